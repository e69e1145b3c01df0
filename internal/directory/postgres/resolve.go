package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// Resolve maps a recipient to its targets, reading one consistent snapshot.
//
// Order (package directory): exact account, exact alias, then for "local+detail" the base
// account and base alias (Detail carries "detail"), then the domain's catch-all "@domain".
// A disabled domain, or a matched account that is disabled, gives ErrDisabled; the
// catch-all never captures an existing account's address.
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
func (d *Directory) Resolve(ctx context.Context, rcpt mail.Address) ([]directory.Target, error) {
	dom, err := mail.ParseDomain(rcpt.Domain)
	if err != nil || rcpt.Local == "" {
		return nil, notFound("recipient " + rcpt.String())
	}
	rcpt.Domain = dom
	var out []directory.Target
	err = d.read(ctx, func(tx pgx.Tx) (err error) {
		r := &resolver{ctx: ctx, q: tx, domains: make(map[string]directory.Domain)}
		out, err = r.resolve(rcpt)
		return err
	})
	return out, err
}

// resolver is one Resolve call's state: its snapshot and the domains it has read.
type resolver struct {
	ctx     context.Context
	q       querier
	domains map[string]directory.Domain // Name "" = not a local domain
}

// match is what a local address names: an account, or an alias's targets.
type match struct {
	acct    *directory.Account
	targets []mail.Address
	detail  string
}

func (r *resolver) resolve(rcpt mail.Address) ([]directory.Target, error) {
	dom, err := r.domain(rcpt.Domain)
	switch {
	case err != nil:
		return nil, err
	case dom.Name == "":
		return nil, notFound("domain " + rcpt.Domain)
	case !dom.Enabled:
		return nil, fmt.Errorf("%w: domain %q", directory.ErrDisabled, dom.Name)
	}
	m, ok, err := r.match(rcpt)
	if err != nil {
		return nil, err
	}
	if !ok {
		// The catch-all matched the whole address: there is no detail to carry.
		m.detail = ""
		if m.targets, ok, err = r.alias("@" + dom.Name); err != nil || !ok {
			return nil, errors.Join(notFound("recipient "+rcpt.Key()), err)
		}
	}
	if m.acct != nil {
		if !m.acct.Enabled {
			return nil, fmt.Errorf("%w: %s", directory.ErrDisabled, rcpt.Key())
		}
		return []directory.Target{{Account: m.acct, Detail: m.detail}}, nil
	}
	out, disabled, err := r.expand(m.targets, m.detail, 0)
	switch {
	case err != nil:
		return nil, err
	case len(out) > 0:
		return dedupeTargets(out), nil
	case disabled:
		return nil, fmt.Errorf("%w: every target of %s is disabled", directory.ErrDisabled, rcpt.Key())
	}
	return nil, notFound("deliverable target for " + rcpt.Key())
}

// expand turns alias targets into Targets; level 0 may expand one more alias.
func (r *resolver) expand(targets []mail.Address, detail string, level int) (out []directory.Target, disabled bool, err error) {
	for _, a := range targets {
		dom, err := r.domain(a.Domain)
		if err != nil {
			return nil, false, err
		}
		if dom.Name == "" {
			out = append(out, directory.Target{Remote: a})
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
			out = append(out, directory.Target{Account: m.acct, Detail: m.detail})
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
	acct, err := getAccount(r.ctx, r.q, `a.addr_key = $1`, key)
	if err == nil {
		return match{acct: &acct}, true, nil
	}
	if !errors.Is(err, directory.ErrNotFound) {
		return match{}, false, err
	}
	targets, ok, err := r.alias(key)
	return match{targets: targets}, ok, err
}

// alias returns the targets of the alias with the given source.
func (r *resolver) alias(source string) ([]mail.Address, bool, error) {
	rows, err := r.q.Query(r.ctx, `SELECT t.target_local, t.target_domain FROM aliases a
		JOIN alias_targets t ON t.alias_id = a.id WHERE a.source = $1 ORDER BY t.pos`, source)
	var out []mail.Address
	if err == nil {
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (mail.Address, error) {
			var t mail.Address
			err := row.Scan(&t.Local, &t.Domain)
			return t, err
		})
	}
	if err != nil {
		return nil, false, fmt.Errorf("postgres directory: alias %s: %w", source, err)
	}
	return out, len(out) > 0, nil
}

// domain reads (once per Resolve) a domain; Name is "" when it is not local.
func (r *resolver) domain(name string) (directory.Domain, error) {
	if d, ok := r.domains[name]; ok {
		return d, nil
	}
	d, err := getDomain(r.ctx, r.q, name, "")
	if errors.Is(err, directory.ErrNotFound) {
		d, err = directory.Domain{}, nil
	}
	if err != nil {
		return d, err
	}
	r.domains[name] = d
	return d, nil
}

func dedupeTargets(ts []directory.Target) []directory.Target {
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

// SendAs reports whether acct may use from as its sender: its own address; an alias whose
// targets deliver to it (exact source only: a catch-all never grants sending as every
// address of a domain); its own "+detail" sub-addresses, unless that exact address is
// another account or an alias not delivering to it. The account is re-read by ID: a
// deleted or disabled account (or domain) may send as nothing.
func (d *Directory) SendAs(ctx context.Context, acct directory.Account, from mail.Address) (bool, error) {
	fromDom, err1 := mail.ParseDomain(from.Domain)
	dom, err2 := mail.ParseDomain(acct.Address.Domain)
	if from.Local == "" || err1 != nil || err2 != nil {
		return false, nil
	}
	from.Domain = fromDom
	var own string
	var isAccount, isAlias, aliasToOwn bool
	// One statement: the sender's current key (if it and its domain are enabled) and what
	// from is, read in one snapshot.
	err := d.pool.QueryRow(ctx, `WITH me AS (
			SELECT a.addr_key FROM accounts a JOIN domains d ON d.name = a.domain
			WHERE a.id = $1 AND a.domain = $2 AND a.enabled AND d.enabled)
		SELECT me.addr_key,
			EXISTS (SELECT 1 FROM accounts WHERE addr_key = $3),
			EXISTS (SELECT 1 FROM aliases WHERE source = $3),
			EXISTS (SELECT 1 FROM aliases a JOIN alias_targets t ON t.alias_id = a.id WHERE a.source = $3
				AND (t.target_key = me.addr_key OR (t.base_key = me.addr_key
					AND NOT EXISTS (SELECT 1 FROM accounts x WHERE x.addr_key = t.target_key))))
		FROM me`, acct.ID, dom, from.Key()).Scan(&own, &isAccount, &isAlias, &aliasToOwn)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // deleted, disabled, or not of that domain
	}
	if err != nil {
		return false, fmt.Errorf("postgres directory: send as: %w", err)
	}
	switch {
	case from.Key() == own:
		return true, nil
	case isAccount:
		return false, nil
	case isAlias:
		return aliasToOwn, nil
	}
	base, _ := from.Base()
	return base.Local != from.Local && base.Key() == own, nil
}
