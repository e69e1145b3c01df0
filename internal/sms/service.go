package sms

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"mailgrid/internal/directory"
)

// Refusals a user sees (the webmail shows their text).
var (
	ErrOff       = errors.New("SMS is not configured on this server")
	ErrNotInPlan = errors.New("your domain's plan does not include SMS; ask your administrator")
	ErrNoStore   = errors.New("the directory keeps no SMS settings")
	// ErrSwitchedOff: the plan has SMS, but the domain or the account switches the "sms"
	// service off (directory.ServiceSMS); errors.Is(err, ErrNotInPlan) holds for it too,
	// so callers that explain "not available" need no new case.
	ErrSwitchedOff error = switchedOff{}
)

type switchedOff struct{}

func (switchedOff) Error() string {
	return "SMS is switched off for your account or domain; ask your administrator"
}
func (switchedOff) Is(target error) bool { return target == ErrNotInPlan }

// Service sends SMS for accounts under their domain's plan and counts them.
type Service struct {
	gw    *Gateway // nil: SMS off
	dir   directory.Directory
	plans directory.PlanStore // nil: no plans, no SMS
	store directory.SMSStore
	log   *slog.Logger
	now   func() time.Time
}

// Options configure a Service.
type Options struct {
	Gateway   *Gateway // nil: SMS off (every send is ErrOff)
	Directory directory.Directory
	Logger    *slog.Logger
	Now       func() time.Time
}

// New returns a Service. The directory must keep SMS rules and counters
// (directory.SMSStore); plans (directory.PlanStore) decide who may send.
func New(o Options) (*Service, error) {
	st, ok := o.Directory.(directory.SMSStore)
	if !ok {
		return nil, ErrNoStore
	}
	s := &Service{gw: o.Gateway, dir: o.Directory, store: st, log: o.Logger, now: o.Now}
	s.plans, _ = o.Directory.(directory.PlanStore)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Store is the directory's SMS rules and counters.
func (s *Service) Store() directory.SMSStore { return s.store }

// Enabled reports whether a gateway is configured.
func (s *Service) Enabled() bool { return s != nil && s.gw != nil }

// Allowed returns nil when accounts of domain may send SMS: a gateway is configured and
// the domain's plan enables SMS. ErrOff or ErrNotInPlan otherwise; another error is the
// directory's (temporary).
func (s *Service) Allowed(ctx context.Context, domain string) error {
	if !s.Enabled() {
		return ErrOff
	}
	if s.plans == nil {
		return ErrNotInPlan
	}
	name, err := s.plans.DomainPlan(ctx, domain)
	if err != nil {
		return err
	}
	if name == "" {
		return ErrNotInPlan
	}
	p, err := s.plans.Plan(ctx, name)
	if errors.Is(err, directory.ErrNotFound) {
		return ErrNotInPlan
	}
	if err != nil {
		return err
	}
	if !p.SMS {
		return ErrNotInPlan
	}
	return nil
}

// AllowedFor is Allowed for one account: also nil only when neither its domain nor the
// account switches the "sms" service off (directory.ServiceAllowed, ErrSwitchedOff).
// Domain admins switch it within their plan like the other services.
func (s *Service) AllowedFor(ctx context.Context, a directory.Account) error {
	if err := s.Allowed(ctx, a.Address.Domain); err != nil {
		return err
	}
	d, err := s.dir.Domain(ctx, a.Address.Domain)
	if err != nil {
		return err
	}
	if !directory.ServiceAllowed(d, a, directory.ServiceSMS) {
		return ErrSwitchedOff
	}
	return nil
}

// Send sends text to the phone number to for account a ("send as SMS"): once, no
// retries (the user sees the answer and may try again). It checks the plan, normalises
// the number (directory.ErrInvalid for a bad one), bounds the text and counts the SMS
// when the gateway took it.
func (s *Service) Send(ctx context.Context, a directory.Account, to, text string) error {
	phone, err := directory.NormPhone(to)
	if err != nil {
		return err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return directory.Invalid("the message is empty")
	}
	if len(text) > MaxText {
		return directory.Invalid("the message is longer than %d bytes", MaxText)
	}
	if err := s.AllowedFor(ctx, a); err != nil {
		return err
	}
	if err := s.gw.Send(ctx, Message{To: phone, Text: text}); err != nil {
		return err
	}
	s.count(ctx, a, directory.SMSSend)
	return nil
}

// count records one SMS the gateway took; a failure to count is logged (the SMS went).
func (s *Service) count(ctx context.Context, a directory.Account, kind directory.SMSKind) {
	if err := s.store.CountSMS(ctx, a.Address.Domain, a.ID, a.Address.String(), kind, s.now()); err != nil {
		s.log.Error("sms: count", "account", a.Address.String(), "kind", kind, "err", err)
	}
}
