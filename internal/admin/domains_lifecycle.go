package admin

// Domain lifecycle: deletion with a grace period, restore and purge; alias domains; the
// transfer of a domain between domain admins (the directory's model: package directory,
// domainlife.go).
//
// Who: only a system admin deletes, restores, purges, transfers and creates or removes
// alias domains: an alias domain takes over every address of a name, so letting a domain
// admin pick the name would let it capture another tenant's mail. A domain admin sees the
// alias domains of its domains (and only those), and no longer sees a deleted domain.
//
// Purge order: the accounts' mail first (their directory entries still name the shards),
// then the directory rows in one DeleteDomain(force) transaction. Both are idempotent, so
// a purge interrupted by a crash is finished by the next claim (after the lease), on any
// node.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// DefaultDomainGrace is how long a deleted domain can be restored when Service.DomainGrace
// is zero.
const DefaultDomainGrace = 30 * 24 * time.Hour

// PurgeLease is how long a purge holds its domain before another node may take it over.
const PurgeLease = time.Hour

// maxPurgesPerRun bounds one PurgeDue call; the next run continues.
const maxPurgesPerRun = 100

func (s *Service) grace() time.Duration {
	if s.DomainGrace > 0 {
		return s.DomainGrace
	}
	return DefaultDomainGrace
}

func (s *Service) lifecycle() (directory.DomainLifecycle, error) {
	l, ok := s.Dir.(directory.DomainLifecycle)
	if !ok {
		return nil, fmt.Errorf("%w: this directory keeps no deleted domains", directory.ErrInvalid)
	}
	return l, nil
}

// MarkDomainDeleted deletes a domain with the grace period: restorable until its purge.
// Without force it refuses (ErrDomainNotEmpty) while the domain has accounts or aliases.
func (s *Service) MarkDomainDeleted(ctx context.Context, name string, force bool) (directory.Domain, error) {
	l, err := s.lifecycle()
	if err != nil {
		return directory.Domain{}, err
	}
	if !force {
		accts, err := s.Dir.Accounts(ctx, name)
		if err != nil {
			return directory.Domain{}, err
		}
		aliases, err := s.Dir.Aliases(ctx, name)
		if err != nil {
			return directory.Domain{}, err
		}
		if n := len(accts) + len(aliases); n > 0 {
			return directory.Domain{}, fmt.Errorf("%w: %q has %d accounts and %d aliases", directory.ErrDomainNotEmpty, name, len(accts), len(aliases))
		}
	}
	if err := l.MarkDomainDeleted(ctx, name, time.Now().Add(s.grace())); err != nil {
		return directory.Domain{}, err
	}
	d, err := s.Dir.Domain(ctx, name)
	if err != nil {
		return d, err
	}
	// Its accounts can no longer log in; their open sessions end now (announce.go).
	if err := s.announceDomain(ctx, store.AccountDeleted, name); err != nil {
		return d, fmt.Errorf("domain deleted, but %w", err)
	}
	return d, nil
}

// PurgeDue purges every deleted domain whose grace has passed, one claim at a time (any
// node may run it at once: each domain goes to one claimer). It returns the names purged;
// a failed purge is reported and left to the next run, after its lease.
func (s *Service) PurgeDue(ctx context.Context) ([]string, error) {
	l, ok := s.Dir.(directory.DomainLifecycle)
	if !ok {
		return nil, nil
	}
	var done []string
	for range maxPurgesPerRun {
		name, err := l.ClaimPurge(ctx, PurgeLease)
		if err != nil || name == "" {
			return done, err
		}
		if err := s.purge(ctx, name); err != nil {
			return done, fmt.Errorf("purge %s: %w", name, err)
		}
		done = append(done, name)
	}
	return done, nil
}

// PurgeDomain purges a deleted domain now, without waiting for its grace to pass
// (ErrNotFound unless it is deleted). A purge already running elsewhere is harmless.
func (s *Service) PurgeDomain(ctx context.Context, name string) error {
	d, err := s.Dir.Domain(ctx, name)
	if err != nil {
		return err
	}
	if !d.Deleted() || d.Name != name {
		return fmt.Errorf("%w: deleted domain %q", directory.ErrNotFound, name)
	}
	return s.purge(ctx, name)
}

// purge removes the accounts' mail, the domain's state elsewhere (DomainPurgers), then
// the domain's directory rows.
func (s *Service) purge(ctx context.Context, name string) error {
	accts, err := s.Dir.Accounts(ctx, name)
	if errors.Is(err, directory.ErrNotFound) {
		return nil // purged already
	}
	if err != nil {
		return err
	}
	for _, a := range accts {
		st, err := s.Shards.Shard(a.Shard)
		if err != nil {
			return fmt.Errorf("%s: shard %q: %w", a.Address, a.Shard, err)
		}
		if err := st.DeleteAccount(ctx, Ref(a)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: mail: %w", a.Address, err)
		}
	}
	// What other parts keep for the domain (filter state, embedded DKIM key files) goes
	// before the directory rows: a purge that fails here is retried from the start.
	for _, p := range s.DomainPurgers {
		if err := p(ctx, name); err != nil {
			return fmt.Errorf("purge %s: %w", name, err)
		}
	}
	if err := s.Dir.DeleteDomain(ctx, name, true); err != nil && !errors.Is(err, directory.ErrNotFound) {
		return err
	}
	return nil
}

// checkNotDeleted answers ErrNotFound when an actor other than a system admin names a
// deleted domain: to its domain admins a deleted domain is gone (its accounts and
// aliases too) until it is restored.
func (c *Scoped) checkNotDeleted(ctx context.Context, domain string) error {
	if c.a.IsSystemAdmin() {
		return nil
	}
	d, err := c.s.Dir.Domain(ctx, domain)
	if err != nil {
		return err
	}
	if d.Deleted() {
		return fmt.Errorf("%w: domain %s", directory.ErrNotFound, domain)
	}
	return nil
}

// DeleteDomain deletes a domain with the grace period (system admins; force: also when
// it has accounts or aliases). The actor's own domain cannot be deleted by the actor.
func (c *Scoped) DeleteDomain(ctx context.Context, name string, force bool) error {
	name, err := c.visibleDomain(name)
	if err != nil {
		return err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return err
	}
	if !c.a.System && c.a.Account.Address.Domain == name {
		return fmt.Errorf("%w: %s holds your own account", ErrForbidden, name)
	}
	d, err := c.s.MarkDomainDeleted(ctx, name, force)
	if d.Name != "" { // deleted, even if its sessions could not all be told
		c.Record(ctx, "domain.delete", name, name, fmt.Sprintf("force=%v purge_at=%s", force, d.PurgeAt.Format(time.RFC3339)))
	}
	return err
}

// RestoreDomain brings a deleted domain back as it was (system admins). A domain that
// is not deleted is returned unchanged, so a repeated restore succeeds.
func (c *Scoped) RestoreDomain(ctx context.Context, name string) (directory.Domain, error) {
	name, err := c.visibleDomain(name)
	if err != nil {
		return directory.Domain{}, err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return directory.Domain{}, err
	}
	l, err := c.s.lifecycle()
	if err != nil {
		return directory.Domain{}, err
	}
	d, err := c.s.Dir.Domain(ctx, name)
	if err != nil || !d.Deleted() || d.Name != name {
		return d, err
	}
	if err := l.RestoreDomain(ctx, name); err != nil {
		return directory.Domain{}, err
	}
	c.Record(ctx, "domain.restore", name, name, "")
	return c.s.Dir.Domain(ctx, name)
}

// PurgeDomain purges a deleted domain now (system admins; Service.PurgeDomain).
func (c *Scoped) PurgeDomain(ctx context.Context, name string) error {
	name, err := c.visibleDomain(name)
	if err != nil {
		return err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return err
	}
	if err := c.s.PurgeDomain(ctx, name); err != nil {
		return err
	}
	c.Record(ctx, "domain.purge", name, name, "")
	return nil
}

// DomainAdmins lists who administers a domain (system admins).
func (c *Scoped) DomainAdmins(ctx context.Context, name string) ([]directory.Account, error) {
	name, err := c.visibleDomain(name)
	if err != nil {
		return nil, err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return nil, err
	}
	st, err := c.adminStore()
	if err != nil {
		return nil, err
	}
	if _, err := c.s.Dir.Domain(ctx, name); err != nil {
		return nil, err
	}
	return st.DomainAdmins(ctx, name)
}

// SetDomainAdmins transfers a domain to exactly the accounts admins (system admins; see
// directory.DomainAdminStore): the ones removed lose access at their next request.
func (c *Scoped) SetDomainAdmins(ctx context.Context, name string, admins []string) ([]directory.Account, error) {
	name, err := c.visibleDomain(name)
	if err != nil {
		return nil, err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return nil, err
	}
	st, err := c.adminStore()
	if err != nil {
		return nil, err
	}
	addrs := make([]mail.Address, 0, len(admins))
	for _, s := range admins {
		a, err := mail.Parse(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w: admin %q: %v", directory.ErrInvalid, s, err)
		}
		addrs = append(addrs, a)
	}
	if err := st.SetDomainAdmins(ctx, name, addrs); err != nil {
		return nil, err
	}
	out, err := st.DomainAdmins(ctx, name)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out))
	for _, a := range out {
		names = append(names, a.Address.String())
	}
	c.Record(ctx, "domain.admins", name, name, "admins="+strings.Join(names, ","))
	return out, nil
}

func (c *Scoped) adminStore() (directory.DomainAdminStore, error) {
	st, ok := c.s.Dir.(directory.DomainAdminStore)
	if !ok {
		return nil, fmt.Errorf("%w: this directory cannot transfer domains", directory.ErrInvalid)
	}
	return st, nil
}

func (c *Scoped) aliasStore() (directory.DomainAliasStore, error) {
	st, ok := c.s.Dir.(directory.DomainAliasStore)
	if !ok {
		return nil, fmt.Errorf("%w: this directory keeps no alias domains", directory.ErrInvalid)
	}
	return st, nil
}

// DomainAliases lists the alias domains of target, or of every domain the actor sees
// when target is "".
func (c *Scoped) DomainAliases(ctx context.Context, target string) ([]directory.DomainAlias, error) {
	st, err := c.aliasStore()
	if err != nil {
		return nil, err
	}
	if target != "" {
		if target, err = c.visibleDomain(target); err != nil {
			return nil, err
		}
		return st.DomainAliases(ctx, target)
	}
	all, err := st.DomainAliases(ctx, "")
	if err != nil {
		return nil, err
	}
	if vis := c.a.VisibleDomains(); vis != nil {
		all = slices.DeleteFunc(all, func(a directory.DomainAlias) bool { return !slices.Contains(vis, a.Target) })
	}
	return all, nil
}

// CreateDomainAlias makes alias an alias domain of target (system admins).
func (c *Scoped) CreateDomainAlias(ctx context.Context, target, alias string) (directory.DomainAlias, error) {
	target, err := c.visibleDomain(target)
	if err != nil {
		return directory.DomainAlias{}, err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return directory.DomainAlias{}, err
	}
	st, err := c.aliasStore()
	if err != nil {
		return directory.DomainAlias{}, err
	}
	name, err := mail.ParseDomain(strings.TrimSpace(alias))
	if err != nil {
		return directory.DomainAlias{}, fmt.Errorf("%w: alias domain %q: %v", directory.ErrInvalid, alias, err)
	}
	if err := st.CreateDomainAlias(ctx, directory.DomainAlias{Name: name, Target: target}); err != nil {
		return directory.DomainAlias{}, err
	}
	c.Record(ctx, "domain.alias.create", target, name, "alias of "+target)
	as, err := st.DomainAliases(ctx, target)
	if err != nil {
		return directory.DomainAlias{}, err
	}
	for _, a := range as {
		if a.Name == name {
			return a, nil
		}
	}
	return directory.DomainAlias{Name: name, Target: target}, nil
}

// DeleteDomainAlias removes alias domain alias of target (system admins).
func (c *Scoped) DeleteDomainAlias(ctx context.Context, target, alias string) error {
	target, err := c.visibleDomain(target)
	if err != nil {
		return err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return err
	}
	st, err := c.aliasStore()
	if err != nil {
		return err
	}
	name, err := normDomain(alias)
	if err != nil {
		return err
	}
	as, err := st.DomainAliases(ctx, target)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(as, func(a directory.DomainAlias) bool { return a.Name == name }) {
		return fmt.Errorf("%w: alias domain %q of %q", directory.ErrNotFound, name, target)
	}
	if err := st.DeleteDomainAlias(ctx, name); err != nil {
		return err
	}
	c.Record(ctx, "domain.alias.delete", target, name, "")
	return nil
}
