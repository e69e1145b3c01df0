package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// Scoped is the service as one actor sees it: every method authorises the actor (authz.go),
// performs the change through the same Service functions the CLI uses, revokes web
// sessions where a change must end them, and records the change in the audit log. The
// JSON API and the console call only this; the CLI uses As(SystemActor("cli")).
type Scoped struct {
	s *Service
	a Actor
}

// As returns the service scoped to actor a.
func (s *Service) As(a Actor) *Scoped { return &Scoped{s: s, a: a} }

// Actor returns the actor of c.
func (c *Scoped) Actor() Actor { return c.a }

// ErrWrongPassword is returned when a self-service password change gives a wrong
// current password.
var ErrWrongPassword = errors.New("current password is wrong")

// normDomain normalises a domain named in a request; a name that cannot be a domain is
// not found.
func normDomain(name string) (string, error) {
	d, err := mail.ParseDomain(name)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q", directory.ErrNotFound, name)
	}
	return d, nil
}

// Domains lists the domains the actor may see.
func (c *Scoped) Domains(ctx context.Context) ([]directory.Domain, error) {
	vis := c.a.VisibleDomains()
	if vis == nil {
		return c.s.Dir.Domains(ctx)
	}
	// A domain admin no longer sees a deleted domain (domains_lifecycle.go).
	out := make([]directory.Domain, 0, len(vis))
	for _, name := range vis {
		d, err := c.s.Dir.Domain(ctx, name)
		if errors.Is(err, directory.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !d.Deleted() && d.Name == name {
			out = append(out, d)
		}
	}
	return out, nil
}

// Domain returns one domain the actor may see.
func (c *Scoped) Domain(ctx context.Context, name string) (directory.Domain, error) {
	name, err := c.visibleDomain(name)
	if err != nil {
		return directory.Domain{}, err
	}
	d, err := c.s.Dir.Domain(ctx, name)
	if err == nil && (d.Name != name || d.Deleted() && !c.a.IsSystemAdmin()) {
		return directory.Domain{}, fmt.Errorf("%w: domain %s", directory.ErrNotFound, name) // domains_lifecycle.go
	}
	return d, err
}

func (c *Scoped) visibleDomain(name string) (string, error) {
	name, err := normDomain(name)
	if err != nil {
		return "", err
	}
	return name, c.a.CheckDomain(name)
}

// CreateDomain adds a domain (system admins).
func (c *Scoped) CreateDomain(ctx context.Context, d directory.Domain) (directory.Domain, error) {
	if err := c.a.CheckChangeDomains(); err != nil {
		return directory.Domain{}, err
	}
	out, err := c.s.AddDomain(ctx, d)
	if err != nil {
		return out, err
	}
	c.Record(ctx, "domain.create", out.Name, out.Name, describeDomain(out))
	return out, nil
}

// DomainUpdate changes a domain; nil fields are left alone.
type DomainUpdate struct {
	Enabled          *bool
	MaxMessageBytes  *int64
	MaxQuotaBytes    *int64
	MaxUsers         *int
	DisabledServices *[]string
	// MaxAttachmentBytes is the domain's own attachment limit (0: the plan's).
	MaxAttachmentBytes *int64
}

// UpdateDomain applies u to a domain: a system admin anything, a domain admin of a
// domain on a service plan its limits within the plan (plans.go); a domain on a plan
// stays within it whoever changes it (ErrLimit). The read and the write are two
// directory calls: of two concurrent updates of one domain the later wins whole.
func (c *Scoped) UpdateDomain(ctx context.Context, name string, u DomainUpdate) (directory.Domain, error) {
	name, err := c.visibleDomain(name)
	if err != nil {
		return directory.Domain{}, err
	}
	plan, err := c.s.domainPlan(ctx, name)
	if err != nil {
		return directory.Domain{}, err
	}
	if err := c.a.CheckDomainUpdate(u, plan != nil); err != nil {
		return directory.Domain{}, err
	}
	d, err := c.s.Dir.Domain(ctx, name)
	if err != nil {
		return d, err
	}
	applyDomainUpdate(&d, u)
	if plan != nil {
		if err := WithinPlan(d, *plan); err != nil {
			return directory.Domain{}, err
		}
	}
	if err := c.s.Dir.UpdateDomain(ctx, d); err != nil {
		return directory.Domain{}, err
	}
	if d, err = c.s.Dir.Domain(ctx, name); err != nil {
		return d, err
	}
	c.Record(ctx, "domain.update", name, name, describeDomain(d))
	if u.Enabled != nil && !*u.Enabled { // its accounts' sessions end (announce.go)
		if err := c.s.announceDomain(ctx, store.AccountDisabled, name); err != nil {
			return d, fmt.Errorf("domain updated, but %w", err)
		}
	}
	return d, nil
}

func applyDomainUpdate(d *directory.Domain, u DomainUpdate) {
	if u.Enabled != nil {
		d.Enabled = *u.Enabled
	}
	if u.MaxMessageBytes != nil {
		d.MaxMessageBytes = *u.MaxMessageBytes
	}
	if u.MaxQuotaBytes != nil {
		d.MaxQuotaBytes = *u.MaxQuotaBytes
	}
	if u.MaxUsers != nil {
		d.MaxUsers = *u.MaxUsers
	}
	if u.DisabledServices != nil {
		d.DisabledServices = *u.DisabledServices
	}
	if u.MaxAttachmentBytes != nil {
		d.MaxAttachmentBytes = *u.MaxAttachmentBytes
	}
}

func describeDomain(d directory.Domain) string {
	return fmt.Sprintf("enabled=%v max_message_bytes=%d max_quota_bytes=%d max_users=%d max_attachment_bytes=%d disabled_services=%s",
		d.Enabled, d.MaxMessageBytes, d.MaxQuotaBytes, d.MaxUsers, d.MaxAttachmentBytes, strings.Join(d.DisabledServices, ","))
}
