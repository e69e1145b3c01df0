package app

import (
	"context"
	"fmt"

	"mailgrid/internal/filter"
	"mailgrid/internal/sms"
)

// smsParts is the SMS gateway's service (the webmail's "send as SMS") and the notifier
// whose mailet runs at local delivery ([sms], package sms); nil when sms.gateway_url is
// not set.
type smsParts struct {
	svc  *sms.Service
	stop func() // stops the notifier's workers
}

// addSMS builds the SMS parts from [sms], adds the notification mailet at the end of the
// local stage (after Bayes and Sieve decided where the copy goes; fail-open, and it only
// queues) and starts the notifier's workers until Close.
func (s *System) addSMS(ctx context.Context, f *filters) error {
	c := s.Cfg.SMS
	gw, err := sms.NewGateway(sms.Config{GatewayURL: c.GatewayURL, Method: c.Method, AuthHeader: c.AuthHeader,
		BodyTemplate: c.BodyTemplate, ContentType: c.ContentType, Timeout: c.Timeout.D(), Retries: c.Retries,
		RetryDelay: c.RetryDelay.D()})
	if err != nil || gw == nil {
		return err
	}
	log := s.Log.With("svc", "sms")
	svc, err := sms.New(sms.Options{Gateway: gw, Directory: s.Dir, Logger: log})
	if err != nil {
		return fmt.Errorf("sms: %w", err)
	}
	n := sms.NewNotifier(svc, sms.NotifierOptions{})
	if err := f.chains.Add(filter.StageLocal, "", filter.Rule{Mailet: n.Mailet(), Policy: filter.FailOpen}); err != nil {
		return err
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Run(nctx)
	}()
	f.sms = &smsParts{svc: svc, stop: func() { cancel(); <-done }}
	return nil
}

// smsService is the webmail's SMS service, nil when SMS is off (or f is).
func (f *filters) smsService() *sms.Service {
	if f == nil || f.sms == nil {
		return nil
	}
	return f.sms.svc
}
