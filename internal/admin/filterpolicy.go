package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// FilterPolicy edits the block lists and domain filter rules the filter chains apply
// (package filter: BlockLists at connect/MAIL/RCPT, DomainRules at DATA). Domain ""
// names the system-wide list and rule set (system administrators only); any other
// domain must exist. Values are checked and normalised here, so the API, the console
// and the CLI store the same form. Authorisation by role is the caller's (Scoped) job.
type FilterPolicy struct {
	Dir   directory.Directory
	Lists filter.BlockLists
	Rules filter.DomainRules
	// Switches holds the per-domain antivirus/antispam switches; nil when the state
	// driver does not keep them (the switch functions then fail).
	Switches filter.DomainSwitches
}

// domain checks and normalises a tenant name; "" is the system.
func (p *FilterPolicy) domain(ctx context.Context, d string) (string, error) {
	if d == "" {
		return "", nil
	}
	name, err := mail.ParseDomain(d)
	if err != nil {
		return "", fmt.Errorf("domain %q: %w", d, err)
	}
	if _, err := p.Dir.Domain(ctx, name); err != nil {
		return "", err
	}
	return name, nil
}

// AddBlock adds an entry to a block list: kind "sender", "sender-domain" or "ip" (an
// address or CIDR prefix). filter.ErrInvalid for a malformed value, filter.ErrExists
// when the list holds it.
func (p *FilterPolicy) AddBlock(ctx context.Context, domain, kind, value, note string) (filter.BlockEntry, error) {
	d, err := p.domain(ctx, domain)
	if err != nil {
		return filter.BlockEntry{}, err
	}
	k, err := filter.ParseBlockKind(kind)
	if err != nil {
		return filter.BlockEntry{}, err
	}
	v, err := filter.NormalizeBlock(k, value)
	if err != nil {
		return filter.BlockEntry{}, err
	}
	e := filter.BlockEntry{Domain: d, Kind: k, Value: v, Note: strings.TrimSpace(note)}
	return e, p.Lists.AddBlock(ctx, e)
}

// RemoveBlock removes an entry (the value is normalised as AddBlock does);
// filter.ErrNotFound when the list lacks it.
func (p *FilterPolicy) RemoveBlock(ctx context.Context, domain, kind, value string) error {
	d, err := p.domain(ctx, domain)
	if err != nil {
		return err
	}
	k, err := filter.ParseBlockKind(kind)
	if err != nil {
		return err
	}
	v, err := filter.NormalizeBlock(k, value)
	if err != nil {
		return err
	}
	return p.Lists.RemoveBlock(ctx, d, k, v)
}

// ListBlocks lists a block list.
func (p *FilterPolicy) ListBlocks(ctx context.Context, domain string) ([]filter.BlockEntry, error) {
	d, err := p.domain(ctx, domain)
	if err != nil {
		return nil, err
	}
	return p.Lists.Blocks(ctx, d)
}

// PutRule creates (ID 0) or replaces a domain rule after checking it (filter.ErrInvalid
// names what is wrong).
func (p *FilterPolicy) PutRule(ctx context.Context, r filter.DomainRule) (filter.DomainRule, error) {
	d, err := p.domain(ctx, r.Domain)
	if err != nil {
		return r, err
	}
	r.Domain, r.Name = d, strings.TrimSpace(r.Name)
	if r.Name == "" {
		return r, fmt.Errorf("%w: a rule needs a name", filter.ErrInvalid)
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	return p.Rules.PutDomainRule(ctx, r)
}

// DeleteRule removes a rule of the domain.
func (p *FilterPolicy) DeleteRule(ctx context.Context, domain string, id int64) error {
	d, err := p.domain(ctx, domain)
	if err != nil {
		return err
	}
	return p.Rules.DeleteDomainRule(ctx, d, id)
}

// ListRules lists a domain's rules in the order they run.
func (p *FilterPolicy) ListRules(ctx context.Context, domain string) ([]filter.DomainRule, error) {
	d, err := p.domain(ctx, domain)
	if err != nil {
		return nil, err
	}
	return p.Rules.DomainRules(ctx, d)
}

// ErrNoSwitches is returned by the switch functions when the filter state keeps none.
var ErrNoSwitches = errors.New("this filter state keeps no per-domain switches")

// DomainSwitches returns a domain's antivirus/antispam switches.
func (p *FilterPolicy) DomainSwitches(ctx context.Context, domain string) (filter.Switches, error) {
	if p.Switches == nil {
		return filter.Switches{}, ErrNoSwitches
	}
	d, err := p.domain(ctx, domain)
	if err != nil {
		return filter.Switches{}, err
	}
	if d == "" {
		return filter.Switches{}, fmt.Errorf("%w: switches belong to a domain", filter.ErrInvalid)
	}
	return p.Switches.DomainSwitches(ctx, d)
}

// SetDomainSwitches turns a domain's virus scanning or spam filtering off or on.
func (p *FilterPolicy) SetDomainSwitches(ctx context.Context, domain string, s filter.Switches) error {
	if p.Switches == nil {
		return ErrNoSwitches
	}
	d, err := p.domain(ctx, domain)
	if err != nil {
		return err
	}
	if d == "" {
		return fmt.Errorf("%w: switches belong to a domain", filter.ErrInvalid)
	}
	return p.Switches.SetDomainSwitches(ctx, d, s)
}
