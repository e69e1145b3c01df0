package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// Resolve maps a recipient to its targets (directory.ResolveWith), reading one
// consistent snapshot.
func (d *Directory) Resolve(ctx context.Context, rcpt mail.Address) ([]directory.Target, error) {
	var out []directory.Target
	err := d.read(ctx, func(tx *sql.Tx) (err error) {
		out, err = directory.ResolveWith(ctx, lookup{tx}, rcpt)
		return err
	})
	return out, err
}

// lookup is directory.Lookup over one read transaction.
type lookup struct{ q querier }

func (l lookup) AccountByKey(ctx context.Context, key string) (directory.Account, error) {
	return getAccount(ctx, l.q, `addr_key = $1`, key)
}

func (l lookup) Domain(ctx context.Context, name string) (directory.Domain, error) {
	return getDomain(ctx, l.q, name)
}

func (l lookup) DomainAliasTarget(ctx context.Context, name string) (string, error) {
	return aliasTarget(ctx, l.q, name)
}

func (l lookup) AliasTargets(ctx context.Context, source string) ([]mail.Address, error) {
	rows, err := l.q.QueryContext(ctx, `SELECT t.target_local, t.target_domain FROM aliases a JOIN alias_targets t ON t.alias_id = a.id
		WHERE a.source = $1 ORDER BY t.pos`, source)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: alias %s: %w", source, err)
	}
	var out []mail.Address
	for rows.Next() {
		var t mail.Address
		if err := rows.Scan(&t.Local, &t.Domain); err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: alias %s: %w", source, err), rows.Close())
		}
		out = append(out, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: alias %s: %w", source, err)
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
	var allowed bool
	err := d.read(ctx, func(tx *sql.Tx) error {
		// An address in an alias domain is the same address in its target (domainlife.go).
		if t, err := aliasTarget(ctx, tx, from.Domain); err != nil || t != "" {
			from.Domain = t
			if err != nil {
				return err
			}
		}
		cur, err := getAccount(ctx, tx, `id = $1 AND domain = $2`, acct.ID, dom)
		if errors.Is(err, directory.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		dm, err := getDomain(ctx, tx, dom)
		if err != nil || !cur.Enabled || !dm.Enabled {
			return err
		}
		allowed, err = sendAs(ctx, tx, cur.Address.Key(), from)
		return err
	})
	return allowed, err
}

func sendAs(ctx context.Context, tx *sql.Tx, own string, from mail.Address) (bool, error) {
	fromKey := from.Key()
	if fromKey == own {
		return true, nil
	}
	var isAccount, isAlias, aliasToOwn bool
	if err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM accounts WHERE addr_key = $1),
		EXISTS (SELECT 1 FROM aliases WHERE source = $1),
		EXISTS (SELECT 1 FROM aliases a JOIN alias_targets t ON t.alias_id = a.id WHERE a.source = $1
			AND (t.target_key = $2 OR (t.base_key = $2 AND t.target_key NOT IN (SELECT addr_key FROM accounts))))`,
		fromKey, own).Scan(&isAccount, &isAlias, &aliasToOwn); err != nil {
		return false, fmt.Errorf("sqlite directory: send as: %w", err)
	}
	switch {
	case isAccount:
		return false, nil
	case isAlias:
		return aliasToOwn, nil
	}
	base, _ := from.Base()
	return base.Local != from.Local && base.Key() == own, nil
}
