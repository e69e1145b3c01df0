package directory

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"mailgrid/internal/mail"
)

// Lookup is what ResolveWith reads from a driver. A driver implements it over one
// consistent snapshot (a read transaction), so one resolution never sees half a change.
type Lookup interface {
	// AccountByKey returns the account whose address key (mail.Address.Key) is key, or
	// an error wrapping ErrNotFound when there is none.
	AccountByKey(ctx context.Context, key string) (Account, error)
	// AliasTargets returns, in their stored order, the targets of the alias whose source
	// is source (an address key, or "@domain" for a catch-all); none when there is no
	// such alias.
	AliasTargets(ctx context.Context, source string) ([]mail.Address, error)
	// Domain returns a local domain (not following alias domains), or an error wrapping
	// ErrNotFound when name is not one.
	Domain(ctx context.Context, name string) (Domain, error)
	// DomainAliasTarget returns the target of alias domain name, "" when name is not an
	// alias domain.
	DomainAliasTarget(ctx context.Context, name string) (string, error)
}

// ResolveWith is Directory.Resolve over a driver's Lookup: it maps a recipient to its
// targets.
//
// Order (see the package doc): exact account, exact alias, then for "local+detail" the
// base account and base alias (Detail carries "detail"), then the domain's catch-all
// "@domain". A disabled domain, or a matched account that is disabled, gives ErrDisabled;
// the catch-all never captures an existing account's address. A deleted domain gives an
// error that is both ErrDomainDeleted and ErrDisabled. An address in an alias domain is
// resolved as the same local part in the alias's target (domainlife.go), and so is a
// local alias target in an alias domain.
//
// Alias expansion goes one level deep, so aliases can never loop:
//   - a target in a domain that is not local is a Remote target;
//   - a local target is matched like a recipient (exact, then base; no catch-all): an
//     account gives an Account target (its own "+detail", else the one of the original
//     recipient, as Postfix propagates address extensions; none after a catch-all match);
//     an alias gives its own account and remote targets, and its alias targets are
//     dropped (the expansion stops there);
//   - local targets that match nothing, or are disabled, are dropped. If nothing is left,
//     the result is ErrDisabled when something was dropped for being disabled, otherwise
//     ErrNotFound.
//
// Targets are de-duplicated: an account once (first Detail wins), a remote address once.
func ResolveWith(ctx context.Context, l Lookup, rcpt mail.Address) ([]Target, error) {
	dom, err := mail.ParseDomain(rcpt.Domain)
	if err != nil || rcpt.Local == "" {
		return nil, fmt.Errorf("%w: recipient %s", ErrNotFound, rcpt.String())
	}
	rcpt.Domain = dom
	r := &resolver{ctx: ctx, l: l, domains: make(map[string]Domain), aliasDomains: make(map[string]string)}
	return r.resolve(rcpt)
}

// resolver is one resolution's state: its lookup and the domains it has read.
type resolver struct {
	ctx     context.Context
	l       Lookup
	domains map[string]Domain // Name "" = not a local domain
	// aliasDomains maps a name that is not a local domain to its alias target ("" none).
	aliasDomains map[string]string
}

// match is what a local address names: an account, or an alias's targets.
type match struct {
	acct    *Account
	targets []mail.Address
	detail  string
}

func (r *resolver) resolve(rcpt mail.Address) ([]Target, error) {
	rcpt, err := r.canonical(rcpt)
	if err != nil {
		return nil, err
	}
	dom, err := r.domain(rcpt.Domain)
	switch {
	case err != nil:
		return nil, err
	case dom.Name == "":
		return nil, fmt.Errorf("%w: domain %s", ErrNotFound, rcpt.Domain)
	case dom.Deleted():
		return nil, fmt.Errorf("%w: %w: %q", ErrDisabled, ErrDomainDeleted, dom.Name)
	case !dom.Enabled:
		return nil, fmt.Errorf("%w: domain %q", ErrDisabled, dom.Name)
	}
	m, ok, err := r.match(rcpt)
	if err != nil {
		return nil, err
	}
	if !ok {
		// The catch-all matched the whole address: there is no detail to carry.
		m.detail = ""
		if m.targets, ok, err = r.alias("@" + dom.Name); err != nil || !ok {
			return nil, errors.Join(fmt.Errorf("%w: recipient %s", ErrNotFound, rcpt.Key()), err)
		}
	}
	if m.acct != nil {
		if !m.acct.Enabled {
			return nil, fmt.Errorf("%w: %s", ErrDisabled, rcpt.Key())
		}
		return []Target{{Account: m.acct, Detail: m.detail}}, nil
	}
	out, disabled, err := r.expand(m.targets, m.detail, 0)
	switch {
	case err != nil:
		return nil, err
	case len(out) > 0:
		return dedupeTargets(out), nil
	case disabled:
		return nil, fmt.Errorf("%w: every target of %s is disabled", ErrDisabled, rcpt.Key())
	}
	return nil, fmt.Errorf("%w: deliverable target for %s", ErrNotFound, rcpt.Key())
}

// expand turns alias targets into Targets; level 0 may expand one more alias.
func (r *resolver) expand(targets []mail.Address, detail string, level int) (out []Target, disabled bool, err error) {
	for _, a := range targets {
		a, err := r.canonical(a)
		if err != nil {
			return nil, false, err
		}
		dom, err := r.domain(a.Domain)
		if err != nil {
			return nil, false, err
		}
		if dom.Name == "" {
			out = append(out, Target{Remote: a})
			continue
		}
		if !dom.Enabled {
			disabled = true
			continue
		}
		m, ok, err := r.match(a)
		switch {
		case err != nil:
			return nil, false, err
		case !ok:
			continue // a local address that is nothing: dropped
		case m.acct != nil && !m.acct.Enabled:
			disabled = true
			continue
		}
		if m.detail == "" {
			m.detail = detail
		}
		switch {
		case m.acct != nil:
			out = append(out, Target{Account: m.acct, Detail: m.detail})
		case level == 0:
			sub, subDisabled, err := r.expand(m.targets, m.detail, level+1)
			if err != nil {
				return nil, false, err
			}
			out, disabled = append(out, sub...), disabled || subDisabled
		}
	}
	return out, disabled, nil
}

// match looks a local address up: exact account, exact alias, then the same for its base.
func (r *resolver) match(a mail.Address) (match, bool, error) {
	m, ok, err := r.matchKey(a.Key())
	if err != nil || ok {
		return m, ok, err
	}
	base, detail := a.Base()
	if base.Local == a.Local {
		return m, false, nil
	}
	m, ok, err = r.matchKey(base.Key())
	m.detail = detail
	return m, ok, err
}

func (r *resolver) matchKey(key string) (match, bool, error) {
	acct, err := r.l.AccountByKey(r.ctx, key)
	if err == nil {
		return match{acct: &acct}, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return match{}, false, err
	}
	targets, ok, err := r.alias(key)
	return match{targets: targets}, ok, err
}

// alias returns the targets of the alias with the given source.
func (r *resolver) alias(source string) ([]mail.Address, bool, error) {
	out, err := r.l.AliasTargets(r.ctx, source)
	if err != nil {
		return nil, false, err
	}
	return out, len(out) > 0, nil
}

// canonical rewrites an address in an alias domain to its target domain. A local domain
// is never an alias domain, so only a name that is not local (read once per resolution)
// costs a lookup, once per resolution too.
func (r *resolver) canonical(a mail.Address) (mail.Address, error) {
	dom, err := r.domain(a.Domain)
	if err != nil || dom.Name != "" {
		return a, err
	}
	t, ok := r.aliasDomains[a.Domain]
	if !ok {
		if t, err = r.l.DomainAliasTarget(r.ctx, a.Domain); err != nil {
			return a, err
		}
		r.aliasDomains[a.Domain] = t
	}
	if t != "" {
		a.Domain = t
	}
	return a, nil
}

// domain reads (once per resolution) a domain; Name is "" when it is not local.
func (r *resolver) domain(name string) (Domain, error) {
	if d, ok := r.domains[name]; ok {
		return d, nil
	}
	d, err := r.l.Domain(r.ctx, name)
	if errors.Is(err, ErrNotFound) {
		d, err = Domain{}, nil
	}
	if err != nil {
		return d, err
	}
	r.domains[name] = d
	return d, nil
}

func dedupeTargets(ts []Target) []Target {
	seen := make(map[string]bool, len(ts))
	out := ts[:0]
	for _, t := range ts {
		k := "r:" + t.Remote.Key()
		if t.Account != nil {
			k = "a:" + strconv.FormatInt(t.Account.ID, 10)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}
