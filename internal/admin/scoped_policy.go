package admin

// Filter policy and quarantine as one actor sees them: the role checks FilterPolicy and
// the quarantine store leave to their caller.
//   - The system-wide block list and rule set (domain "") are the system admins'; anyone
//     else gets ErrForbidden.
//   - A domain's block list, rules, antivirus/antispam switches and held mail are its
//     administrators' (system admins: every domain). A domain outside the actor's
//     tenants is ErrNotFound, as everywhere in Scoped, so other tenants cannot be probed;
//     a user administers no domain and so reaches nothing here.
//   - A domain admin may turn a filter off at any time, but one that is off back on only
//     if the domain's service plan offers it (directory.Plan.Antivirus/Antispam); a
//     system admin decides freely.
//   - The quarantine of all domains at once (ListHeld with "") is the system admins'.
// Every change is recorded in the audit log.

import (
	"context"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
)

// FilterAdmin is the filter state the web front-end administers: the policy (block
// lists, rules, switches), the quarantine, and Release, which delivers a held copy past
// the filters and removes it (delivery.Pipeline.Release).
type FilterAdmin struct {
	Policy     *FilterPolicy
	Quarantine filter.QuarantineStore
	Release    func(ctx context.Context, domain string, id int64) error
	// Servers is the node's register of external filters and Node the node's name, for
	// the filter servers page (filterservers.go); nil where there is none (the CLI).
	Servers *filter.Servers
	Node    string
}

// ErrNoFilters is returned when the installation gave the front-end no filter state.
var ErrNoFilters = errors.New("no filter state is configured here")

// ScopedFilters is FilterAdmin as one actor sees it.
type ScopedFilters struct {
	c *Scoped
	f *FilterAdmin
}

// Filters returns the filter state scoped to c's actor; f may be nil (every method then
// fails with ErrNoFilters after the role check).
func (c *Scoped) Filters(f *FilterAdmin) *ScopedFilters { return &ScopedFilters{c: c, f: f} }

// scope authorises the actor for domain's policy ("" = the system's) and returns it
// normalised.
func (s *ScopedFilters) scope(domain string) (string, error) {
	if domain == "" {
		if !s.c.a.IsSystemAdmin() {
			return "", fmt.Errorf("%w: the system-wide filter policy is the system administrator's", ErrForbidden)
		}
	} else {
		d, err := s.c.visibleDomain(domain)
		if err != nil {
			return "", err
		}
		domain = d
	}
	if s.f == nil || s.f.Policy == nil {
		return "", ErrNoFilters
	}
	return domain, nil
}

// Blocks lists a block list.
func (s *ScopedFilters) Blocks(ctx context.Context, domain string) ([]filter.BlockEntry, error) {
	d, err := s.scope(domain)
	if err != nil {
		return nil, err
	}
	return s.f.Policy.ListBlocks(ctx, d)
}

// AddBlock adds an entry (FilterPolicy.AddBlock).
func (s *ScopedFilters) AddBlock(ctx context.Context, domain, kind, value, note string) (filter.BlockEntry, error) {
	d, err := s.scope(domain)
	if err != nil {
		return filter.BlockEntry{}, err
	}
	b, err := s.f.Policy.AddBlock(ctx, d, kind, value, note)
	if err != nil {
		return b, err
	}
	s.c.Record(ctx, "block.add", b.Domain, b.Kind.String()+" "+b.Value, b.Note)
	return b, nil
}

// RemoveBlock removes an entry (FilterPolicy.RemoveBlock).
func (s *ScopedFilters) RemoveBlock(ctx context.Context, domain, kind, value string) error {
	d, err := s.scope(domain)
	if err != nil {
		return err
	}
	if err := s.f.Policy.RemoveBlock(ctx, d, kind, value); err != nil {
		return err
	}
	s.c.Record(ctx, "block.remove", d, kind+" "+value, "")
	return nil
}

// Rules lists a rule set in the order it runs.
func (s *ScopedFilters) Rules(ctx context.Context, domain string) ([]filter.DomainRule, error) {
	d, err := s.scope(domain)
	if err != nil {
		return nil, err
	}
	return s.f.Policy.ListRules(ctx, d)
}

// PutRule creates (ID 0) or replaces a rule of r.Domain. Replacing checks that the rule
// belongs to that rule set, so an id of another tenant is not found.
func (s *ScopedFilters) PutRule(ctx context.Context, r filter.DomainRule) (filter.DomainRule, error) {
	d, err := s.scope(r.Domain)
	if err != nil {
		return r, err
	}
	r.Domain = d
	if r.ID != 0 {
		if _, err := s.rule(ctx, d, r.ID); err != nil {
			return r, err
		}
	}
	out, err := s.f.Policy.PutRule(ctx, r)
	if err != nil {
		return out, err
	}
	s.c.Record(ctx, "rule.put", out.Domain, out.Name, fmt.Sprintf("id=%d action=%s arg=%q", out.ID, out.Action, out.Arg))
	return out, nil
}

// rule finds rule id of the (authorised, normalised) rule set d.
func (s *ScopedFilters) rule(ctx context.Context, d string, id int64) (filter.DomainRule, error) {
	rs, err := s.f.Policy.ListRules(ctx, d)
	if err != nil {
		return filter.DomainRule{}, err
	}
	for _, r := range rs {
		if r.ID == id {
			return r, nil
		}
	}
	return filter.DomainRule{}, fmt.Errorf("%w: rule %d", directory.ErrNotFound, id)
}

// Rule returns one rule of a rule set.
func (s *ScopedFilters) Rule(ctx context.Context, domain string, id int64) (filter.DomainRule, error) {
	d, err := s.scope(domain)
	if err != nil {
		return filter.DomainRule{}, err
	}
	return s.rule(ctx, d, id)
}

// DeleteRule removes a rule of the rule set.
func (s *ScopedFilters) DeleteRule(ctx context.Context, domain string, id int64) error {
	d, err := s.scope(domain)
	if err != nil {
		return err
	}
	r, err := s.rule(ctx, d, id)
	if err != nil {
		return err
	}
	if err := s.f.Policy.DeleteRule(ctx, d, id); err != nil {
		return err
	}
	s.c.Record(ctx, "rule.delete", d, r.Name, fmt.Sprintf("id=%d", id))
	return nil
}

// Switches returns a domain's antivirus/antispam switches.
func (s *ScopedFilters) Switches(ctx context.Context, domain string) (filter.Switches, error) {
	if domain == "" {
		return filter.Switches{}, fmt.Errorf("%w: switches belong to a domain", directory.ErrNotFound)
	}
	d, err := s.scope(domain)
	if err != nil {
		return filter.Switches{}, err
	}
	return s.f.Policy.DomainSwitches(ctx, d)
}

// SetSwitches sets a domain's switches; a domain admin turns a filter on only when the
// domain's plan offers it (directory.ErrLimit).
func (s *ScopedFilters) SetSwitches(ctx context.Context, domain string, sw filter.Switches) error {
	if domain == "" {
		return fmt.Errorf("%w: switches belong to a domain", directory.ErrNotFound)
	}
	d, err := s.scope(domain)
	if err != nil {
		return err
	}
	if !s.c.a.IsSystemAdmin() {
		plan, err := s.c.s.domainPlan(ctx, d)
		if err != nil {
			return err
		}
		if plan != nil {
			cur, err := s.f.Policy.DomainSwitches(ctx, d)
			if err != nil {
				return err
			}
			// Only turning on is bounded: a filter the plan lacks but that is on stays
			// switchable off, and changing the other switch does not trip over it.
			if cur.NoAntivirus && !sw.NoAntivirus && !plan.Antivirus || cur.NoAntispam && !sw.NoAntispam && !plan.Antispam {
				return fmt.Errorf("%w: plan %s does not offer the filter you turn on", directory.ErrLimit, plan.Name)
			}
		}
	}
	if err := s.f.Policy.SetDomainSwitches(ctx, d, sw); err != nil {
		return err
	}
	s.c.Record(ctx, "domain.filters", d, d, fmt.Sprintf("antivirus=%v antispam=%v", !sw.NoAntivirus, !sw.NoAntispam))
	return nil
}

// quarantine authorises the actor for domain's held mail ("" = every domain, system
// admins only).
func (s *ScopedFilters) quarantine(domain string) (string, error) {
	d, err := s.scope(domain)
	if err != nil {
		return "", err
	}
	if s.f.Quarantine == nil {
		return "", ErrNoFilters
	}
	return d, nil
}

// Held lists held copies of domain ("" = every domain), newest first, at most limit
// (0: no limit).
func (s *ScopedFilters) Held(ctx context.Context, domain string, limit int) ([]filter.Held, error) {
	d, err := s.quarantine(domain)
	if err != nil {
		return nil, err
	}
	return s.f.Quarantine.List(ctx, filter.QuarantineQuery{Domain: d, Limit: limit})
}

// heldOf checks that id is a held copy of the (named, non-empty) domain.
func (s *ScopedFilters) heldOf(ctx context.Context, domain string, id int64) (string, filter.Held, error) {
	if domain == "" {
		return "", filter.Held{}, fmt.Errorf("%w: a held message belongs to a domain", directory.ErrNotFound)
	}
	d, err := s.quarantine(domain)
	if err != nil {
		return "", filter.Held{}, err
	}
	h, err := s.f.Quarantine.Get(ctx, d, id)
	if errors.Is(err, filter.ErrNotFound) {
		return "", h, fmt.Errorf("%w: held message %d", directory.ErrNotFound, id)
	}
	return d, h, err
}

// ReleaseHeld delivers a held copy to its recipient past the filters and removes it.
func (s *ScopedFilters) ReleaseHeld(ctx context.Context, domain string, id int64) error {
	d, h, err := s.heldOf(ctx, domain, id)
	if err != nil {
		return err
	}
	if s.f.Release == nil {
		return ErrNoFilters
	}
	if err := s.f.Release(ctx, d, id); err != nil {
		return err
	}
	s.c.Record(ctx, "quarantine.release", d, fmt.Sprint(id), "to "+h.Rcpt.String()+" from "+h.From.String())
	return nil
}

// DeleteHeld deletes a held copy.
func (s *ScopedFilters) DeleteHeld(ctx context.Context, domain string, id int64) error {
	d, h, err := s.heldOf(ctx, domain, id)
	if err != nil {
		return err
	}
	if err := s.f.Quarantine.Delete(ctx, d, id); err != nil {
		return err
	}
	s.c.Record(ctx, "quarantine.delete", d, fmt.Sprint(id), "to "+h.Rcpt.String()+" from "+h.From.String())
	return nil
}
