package admin

// Single sign-on secrets and SMS statistics of a domain.
//
// A domain's SSO secret is shared with the operator's portal, which signs one-time webmail
// login links with it (docs/webmail.md, package web). A system admin or an administrator
// of the domain may read it, have one generated (the first read of a domain without one,
// or a rotation) or set one; a rotation makes every link signed with the old secret
// invalid at once. The audit log records that a secret was set or rotated, never the
// secret.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/directory"
)

// ErrNoSSO is returned when the directory driver keeps no SSO secrets.
var ErrNoSSO = errors.New("the directory keeps no single sign-on secrets")

// ErrNoSMS is returned when the directory driver keeps no SMS counters.
var ErrNoSMS = errors.New("the directory keeps no SMS statistics")

// NewSSOSecret returns a random 256-bit secret as 64 hex digits.
func NewSSOSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin: random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func (s *Service) ssoStore() (directory.SSOSecretStore, error) {
	ss, ok := s.Dir.(directory.SSOSecretStore)
	if !ok {
		return nil, ErrNoSSO
	}
	return ss, nil
}

// SSOSecret returns the SSO secret of a domain the actor administers, generating one when
// the domain has none or when rotate is set.
func (c *Scoped) SSOSecret(ctx context.Context, domain string, rotate bool) (string, error) {
	name, err := c.visibleDomain(domain)
	if err != nil {
		return "", err
	}
	ss, err := c.s.ssoStore()
	if err != nil {
		return "", err
	}
	if !rotate {
		cur, err := ss.SSOSecret(ctx, name)
		if err == nil {
			return cur, nil
		}
		if !errors.Is(err, directory.ErrNotFound) {
			return "", err
		}
		if _, err := c.s.Dir.Domain(ctx, name); err != nil {
			return "", err
		}
	}
	secret, err := NewSSOSecret()
	if err != nil {
		return "", err
	}
	if err := ss.SetSSOSecret(ctx, name, secret); err != nil {
		return "", err
	}
	action := "domain.sso_secret.create"
	if rotate {
		action = "domain.sso_secret.rotate"
	}
	c.Record(ctx, action, name, name, "")
	return secret, nil
}

// SetSSOSecret sets the SSO secret of a domain the actor administers to secret (at least
// directory.MinSSOSecret bytes), or removes it ("": SSO links are refused).
func (c *Scoped) SetSSOSecret(ctx context.Context, domain, secret string) error {
	name, err := c.visibleDomain(domain)
	if err != nil {
		return err
	}
	ss, err := c.s.ssoStore()
	if err != nil {
		return err
	}
	if err := ss.SetSSOSecret(ctx, name, secret); err != nil {
		return err
	}
	action := "domain.sso_secret.set"
	if secret == "" {
		action = "domain.sso_secret.remove"
	}
	c.Record(ctx, action, name, name, "")
	return nil
}

// SMSCounts lists the SMS counters of a domain the actor administers ("" for a system
// admin: every domain) from since's day on.
func (c *Scoped) SMSCounts(ctx context.Context, domain string, since time.Time) ([]directory.SMSCount, error) {
	if domain == "" {
		if !c.a.IsSystemAdmin() {
			return nil, fmt.Errorf("%w: statistics of every domain are the system administrator's", ErrForbidden)
		}
	} else {
		name, err := c.visibleDomain(domain)
		if err != nil {
			return nil, err
		}
		domain = name
	}
	ms, ok := c.s.Dir.(directory.SMSStore)
	if !ok {
		return nil, ErrNoSMS
	}
	return ms.SMSCounts(ctx, domain, since)
}
