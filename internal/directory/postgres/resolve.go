package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// Resolve maps a recipient to its targets (directory.ResolveWith), reading one
// consistent snapshot.
func (d *Directory) Resolve(ctx context.Context, rcpt mail.Address) ([]directory.Target, error) {
	var out []directory.Target
	err := d.read(ctx, func(tx pgx.Tx) (err error) {
		out, err = directory.ResolveWith(ctx, lookup{tx}, rcpt)
		return err
	})
	return out, err
}

// lookup is directory.Lookup over one read transaction.
type lookup struct{ q querier }

func (l lookup) AccountByKey(ctx context.Context, key string) (directory.Account, error) {
	return getAccount(ctx, l.q, `a.addr_key = $1`, key)
}

func (l lookup) Domain(ctx context.Context, name string) (directory.Domain, error) {
	return getDomain(ctx, l.q, name, "")
}

func (l lookup) DomainAliasTarget(ctx context.Context, name string) (string, error) {
	return aliasTarget(ctx, l.q, name)
}

func (l lookup) AliasTargets(ctx context.Context, source string) ([]mail.Address, error) {
	rows, err := l.q.Query(ctx, `SELECT t.target_local, t.target_domain FROM aliases a
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
		return nil, fmt.Errorf("postgres directory: alias %s: %w", source, err)
	}
	return out, nil
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
	// An address in an alias domain is the same address in its target (domainlife.go).
	if t, err := aliasTarget(ctx, d.pool, from.Domain); err != nil {
		return false, err
	} else if t != "" {
		from.Domain = t
	}
	var own string
	var isAccount, isAlias, aliasToOwn bool
	// One statement: the sender's current key (if it and its domain are enabled) and what
	// from is, read in one snapshot.
	err := d.pool.QueryRow(ctx, `WITH me AS (
			SELECT a.addr_key FROM accounts a JOIN domains d ON d.name = a.domain
			WHERE a.id = $1 AND a.domain = $2 AND a.enabled AND d.enabled AND d.deleted_at IS NULL)
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
