package mailets

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sieve"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// Sieve runs the account's active Sieve script (filter.SieveScripts) on its copy and
// turns the actions into the recipient's fate (RFC 5228 2.10):
//
//	keep                 the implicit-keep mailbox (INBOX, or Junk after Bayes), flags
//	fileinto             that mailbox (RFC 5228 4.1), flags (RFC 5232)
//	redirect             a copy sent on after the commit (RFC 5228 4.2)
//	discard              no copy (RFC 5228 4.4)
//	reject, ereject      550 5.7.1 with the reason: refused in the session when it can
//	                     be, else bounced with a DSN (RFC 5429 2.1, 2.2)
//	vacation             an auto-reply from the null sender, at most once per sender and
//	                     handle within :days (filter.Vacations; RFC 5230 4.1, 4.2)
//
// An account without an active script keeps the message. A script that does not
// compile (it changed behind ManageSieve's check) or fails at run time gives the
// implicit keep (RFC 5228 2.10.6), logged. Compiled scripts are cached by source.
type Sieve struct {
	Scripts   filter.SieveScripts
	Vacations filter.Vacations
	Options   sieve.Options
	Hostname  string // for Message-IDs of auto-replies

	mu    sync.Mutex
	cache map[[sha256.Size]byte]*sieve.Script
}

// maxCached bounds the compiled-script cache (it is emptied when full).
const maxCached = 1024

// Name implements filter.Mailet.
func (s *Sieve) Name() string { return "sieve" }

// Stages implements filter.Stager: a script belongs to an account.
func (s *Sieve) Stages() []filter.Stage { return []filter.Stage{filter.StageLocal} }

// Service implements filter.Mailet.
func (s *Sieve) Service(ctx context.Context, m *filter.Mail) error {
	acct := store.AccountRef{Domain: m.Account.Address.Domain, ID: m.Account.ID}
	name, src, err := s.Scripts.ActiveScript(ctx, acct)
	if errors.Is(err, filter.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	script, err := s.compile(src)
	if err != nil {
		m.Logger.Warn("sieve: active script does not compile; keeping", "account", m.Account.Address.String(), "script", name, "err", err)
		return nil
	}
	for _, r := range active(m) {
		if err := s.run(ctx, m, acct, script, r); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sieve) compile(src string) (*sieve.Script, error) {
	key := sha256.Sum256([]byte(src))
	s.mu.Lock()
	sc, ok := s.cache[key]
	s.mu.Unlock()
	if ok {
		return sc, nil
	}
	sc, err := sieve.Compile(src, s.Options)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.cache == nil || len(s.cache) >= maxCached {
		s.cache = map[[sha256.Size]byte]*sieve.Script{}
	}
	s.cache[key] = sc
	s.mu.Unlock()
	return sc, nil
}

func (s *Sieve) run(ctx context.Context, m *filter.Mail, acct store.AccountRef, script *sieve.Script, r *filter.Recipient) error {
	b := m.Message.Body()
	msg, err := sieve.NewMessage(b, b.Size(), nil, sieve.Envelope{From: m.Envelope.From, To: r.Orig})
	if err != nil {
		return err
	}
	res, err := script.Run(ctx, msg, sieve.RunOptions{Addresses: []string{m.Account.Address.String()}, Now: m.Now()})
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		m.Logger.Warn("sieve: runtime error; implicit keep", "account", m.Account.Address.String(), "err", err)
	}
	keep := r.Fate.Keep
	r.Discard() // the script's own actions say what is kept (its implicit keep included)
	for _, a := range res.Actions {
		switch a.Kind {
		case sieve.ActionKeep:
			r.FileInto(keep.Mailbox, mergeFlags(keep.Flags, a.Flags), false)
		case sieve.ActionFileInto:
			r.FileInto(a.Mailbox, a.Flags, false)
		case sieve.ActionRedirect:
			to, err := mail.Parse(a.Address)
			if err != nil {
				m.Logger.Warn("sieve: redirect address refused", "address", a.Address, "err", err)
				continue
			}
			r.Redirect(to, true)
		case sieve.ActionReject, sieve.ActionEReject:
			r.Reject(filter.RejectPolicy(a.Reason))
		case sieve.ActionVacation:
			if err := s.vacation(ctx, m, acct, a.Vacation); err != nil {
				return err
			}
		}
	}
	if res.VacationSkipped != "" {
		m.Logger.Debug("sieve: no vacation reply", "why", res.VacationSkipped)
	}
	return nil
}

func mergeFlags(a, b []string) []string {
	if len(a) == 0 {
		return b
	}
	return append(append([]string(nil), a...), b...)
}

// vacation sends the auto-reply when none went to this sender under this handle within
// :days (RFC 5230 4.1, 4.2).
func (s *Sieve) vacation(ctx context.Context, m *filter.Mail, acct store.AccountRef, v *sieve.VacationAction) error {
	to, err := mail.Parse(v.To)
	if err != nil {
		m.Logger.Info("sieve: vacation to an unusable sender skipped", "to", v.To)
		return nil
	}
	now := m.Now()
	due, err := s.Vacations.MarkReplied(ctx, acct, to.Key(), v.Handle, now, time.Duration(v.Days)*24*time.Hour)
	if err != nil || !due {
		return err
	}
	body, err := composeVacation(v, s.Hostname, now)
	if err != nil {
		m.Logger.Warn("sieve: vacation reply not composed", "err", err)
		return nil
	}
	m.Send(filter.Outgoing{To: to, Body: body})
	return nil
}
