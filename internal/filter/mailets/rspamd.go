package mailets

import (
	"context"
	"fmt"
	"strings"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/rspamd"
	"mailgrid/internal/message/body"
)

// Rspamd asks rspamd for a verdict on the whole message and acts on its action
// (https://rspamd.com/doc/configuration/metrics.html#actions):
//
//	reject                    550 5.7.1 (rspamd's SMTP text when it gives one)
//	soft reject               451 4.7.1 (try again later; rspamd's greylist module
//	                          answers this when it greylists)
//	greylist                  delivered: the action only says the score would merit
//	                          greylisting, and mailgrid keeps no greylist state
//	add header, rewrite subj. X-Spam-Flag: YES; the Bayes mailet files it in Junk at
//	                          the local stage, unless the account's spam level is off
//	discard                   accepted and dropped
//	quarantine                held in the quarantine ("spam score S/R")
//	no action                 delivered
//
// Every verdict is recorded in X-Spam-Status ("Yes|No, score=S required=R
// action=A"); rspamd's own header changes (its milter block) are applied. Headers of the
// same names arriving with the message are removed first. An rspamd failure is an error:
// the rule's Policy applies (fail-open is usual for spam).
type Rspamd struct {
	Client *rspamd.Client
}

// Name implements filter.Mailet.
func (s *Rspamd) Name() string { return "rspamd" }

// Health implements filter.HealthChecker (rspamd /ping).
func (s *Rspamd) Health(ctx context.Context) error { return s.Client.Ping(ctx) }

// Service implements filter.Mailet.
func (s *Rspamd) Service(ctx context.Context, m *filter.Mail) error {
	for _, h := range []string{HeaderSpamFlag, HeaderSpamStatus} {
		if err := m.Message.RemoveHeader(h); err != nil {
			return err
		}
	}
	env := m.Envelope
	renv := rspamd.Envelope{IP: env.ClientIP, Helo: env.HELO, From: "<>", QueueID: env.ID}
	if !env.From.IsZero() {
		renv.From = env.From.String()
	}
	if env.Account != nil {
		renv.User = env.Account.Address.String()
	}
	for _, r := range m.Recipients {
		renv.Rcpt = append(renv.Rcpt, r.Addr.String())
	}
	b := m.Message.Body()
	res, err := s.Client.Check(ctx, renv, body.Reader(b), b.Size())
	if err != nil {
		return err
	}
	if err := s.applyHeaders(m, res); err != nil {
		return err
	}
	s.decide(m, res)
	return nil
}

func (s *Rspamd) applyHeaders(m *filter.Mail, res *rspamd.Result) error {
	for _, name := range res.RemoveHeaders {
		if err := m.Message.RemoveHeader(name); err != nil {
			return err
		}
	}
	for _, h := range res.AddHeaders {
		if strings.EqualFold(h.Name, HeaderSpamFlag) || strings.EqualFold(h.Name, HeaderSpamStatus) {
			continue // ours, below
		}
		if err := m.Message.AddHeader(h.Name, h.Value); err != nil {
			m.Logger.Warn("rspamd: header not added", "name", h.Name, "err", err)
		}
	}
	spam := res.Action != rspamd.NoAction && res.Action != rspamd.Greylist
	yes := "No"
	if spam {
		yes = "Yes"
		if err := m.Message.AddHeader(HeaderSpamFlag, "YES"); err != nil {
			return err
		}
	}
	return m.Message.AddHeader(HeaderSpamStatus, fmt.Sprintf("%s, score=%.2f required=%.2f action=%q",
		yes, res.Score, res.RequiredScore, string(res.Action)))
}

func (s *Rspamd) decide(m *filter.Mail, res *rspamd.Result) {
	text := res.SMTPMessage
	for _, r := range active(m) {
		switch res.Action {
		case rspamd.Reject:
			if text == "" {
				text = "message rejected as spam"
			}
			r.Reject(filter.RejectPolicy(text))
		case rspamd.SoftReject:
			if text == "" {
				text = "try again later"
			}
			r.Defer(filter.DeferPolicy(text))
		case rspamd.Discard:
			r.Drop(fmt.Sprintf("spam score %.2f/%.2f", res.Score, res.RequiredScore))
		case rspamd.Quarantine:
			r.Quarantine(fmt.Sprintf("spam score %.2f/%.2f", res.Score, res.RequiredScore))
		}
	}
}
