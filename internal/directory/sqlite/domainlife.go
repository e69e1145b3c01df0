package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// The domain lifecycle (directory.DomainLifecycle, DomainAliasStore, DomainAdminStore; the
// model is in package directory, domainlife.go). Writes run in the writer's immediate
// transactions, so a check and the change it guards are one step.

// schemaV6 adds the domain lifecycle: deletion with a grace period (UTC microseconds,
// 0 = not deleted / no purge lease) and alias domains, which go with their target.
const schemaV6 = `
ALTER TABLE domains ADD COLUMN deleted_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN purge_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN purge_lease INTEGER NOT NULL DEFAULT 0;  -- a purge holds it until then
CREATE INDEX domains_by_purge ON domains(purge_at) WHERE deleted_at <> 0;

CREATE TABLE domain_aliases (
	name       TEXT PRIMARY KEY,  -- ASCII, lower case; never also a row of domains
	target     TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX domain_aliases_by_target ON domain_aliases(target);
`

var (
	_ directory.DomainLifecycle  = (*Directory)(nil)
	_ directory.DomainAliasStore = (*Directory)(nil)
	_ directory.DomainAdminStore = (*Directory)(nil)
)

// aliasTarget returns the target of alias domain name, "" when name is not one.
func aliasTarget(ctx context.Context, q querier, name string) (string, error) {
	var t string
	err := q.QueryRowContext(ctx, `SELECT target FROM domain_aliases WHERE name = $1`, name).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite directory: alias domain %q: %w", name, err)
	}
	return t, nil
}

// MarkDomainDeleted implements directory.DomainLifecycle.
func (d *Directory) MarkDomainDeleted(ctx context.Context, name string, purgeAt time.Time) error {
	a, err := lookupDomainName(name)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		dom, err := getDomain(ctx, tx, a)
		if err != nil {
			return err
		}
		if dom.Deleted() {
			return fmt.Errorf("%w: %q", directory.ErrDomainDeleted, a)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE domains SET deleted_at = $2, purge_at = $3, purge_lease = 0 WHERE name = $1`,
			a, micros(d.now()), micros(purgeAt)); err != nil {
			return fmt.Errorf("sqlite directory: delete domain %q: %w", a, err)
		}
		return nil
	})
}

// RestoreDomain implements directory.DomainLifecycle.
func (d *Directory) RestoreDomain(ctx context.Context, name string) error {
	a, err := lookupDomainName(name)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE domains SET deleted_at = 0, purge_at = 0
			WHERE name = $1 AND deleted_at <> 0 AND purge_lease = 0 AND purge_at > $2`, a, micros(d.now()))
		if err != nil {
			return fmt.Errorf("sqlite directory: restore domain %q: %w", a, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		dom, err := getDomain(ctx, tx, a)
		switch {
		case err != nil:
			return err
		case !dom.Deleted():
			return fmt.Errorf("%w: deleted domain %q", directory.ErrNotFound, a)
		}
		return fmt.Errorf("%w: %q", directory.ErrGraceOver, a)
	})
}

// ClaimPurge implements directory.DomainLifecycle.
func (d *Directory) ClaimPurge(ctx context.Context, lease time.Duration) (string, error) {
	var name string
	err := d.write(ctx, func(tx *sql.Tx) error {
		now := d.now()
		err := tx.QueryRowContext(ctx, `SELECT name FROM domains WHERE deleted_at <> 0 AND purge_at <= $1
			AND purge_lease <= $1 ORDER BY purge_at, name LIMIT 1`, micros(now)).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlite directory: claim purge: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE domains SET purge_lease = $2 WHERE name = $1`,
			name, micros(now.Add(lease))); err != nil {
			return fmt.Errorf("sqlite directory: claim purge %q: %w", name, err)
		}
		return nil
	})
	return name, err
}

// CreateDomainAlias implements directory.DomainAliasStore.
func (d *Directory) CreateDomainAlias(ctx context.Context, al directory.DomainAlias) error {
	name, err := normDomain(al.Name)
	if err != nil {
		return err
	}
	target, err := lookupDomainName(al.Target)
	if err != nil {
		return err
	}
	if name == target {
		return fmt.Errorf("%w: %q cannot be an alias of itself", directory.ErrInvalid, name)
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, name); err == nil {
			return fmt.Errorf("%w: %q is a domain", directory.ErrExists, name)
		} else if !errors.Is(err, directory.ErrNotFound) {
			return err
		}
		dom, err := getDomain(ctx, tx, target)
		if err != nil {
			return err
		}
		if dom.Deleted() {
			return fmt.Errorf("%w: %q", directory.ErrDomainDeleted, target)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO domain_aliases (name, target, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, name, target, micros(d.now()))
		if err != nil {
			return fmt.Errorf("sqlite directory: alias domain %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: alias domain %q", directory.ErrExists, name), err)
		}
		return nil
	})
}

// DomainAliases implements directory.DomainAliasStore.
func (d *Directory) DomainAliases(ctx context.Context, target string) ([]directory.DomainAlias, error) {
	where, args := `1`, []any{}
	if target != "" {
		t, err := lookupDomainName(target)
		if err != nil {
			return nil, nil
		}
		where, args = `target = $1`, []any{t}
	}
	rows, err := d.r.QueryContext(ctx, `SELECT name, target, created_at FROM domain_aliases WHERE `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: alias domains: %w", err)
	}
	var out []directory.DomainAlias
	for rows.Next() {
		var a directory.DomainAlias
		var created int64
		if err := rows.Scan(&a.Name, &a.Target, &created); err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: alias domains: %w", err), rows.Close())
		}
		a.CreatedAt = fromMicros(created)
		out = append(out, a)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: alias domains: %w", err)
	}
	return out, nil
}

// DeleteDomainAlias implements directory.DomainAliasStore.
func (d *Directory) DeleteDomainAlias(ctx context.Context, name string) error {
	a, err := lookupDomainName(name)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM domain_aliases WHERE name = $1`, a)
		if err != nil {
			return fmt.Errorf("sqlite directory: delete alias domain %q: %w", a, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: alias domain %q", directory.ErrNotFound, a), err)
		}
		return nil
	})
}

// DomainAdmins implements directory.DomainAdminStore.
func (d *Directory) DomainAdmins(ctx context.Context, domain string) ([]directory.Account, error) {
	a, err := lookupDomainName(domain)
	if err != nil {
		return nil, err
	}
	var out []directory.Account
	err = d.read(ctx, func(tx *sql.Tx) error {
		out, err = listAccounts(ctx, tx, `role = 'domain-admin' AND id IN (SELECT account_id FROM account_admin_domains WHERE domain = $1)`, a)
		return err
	})
	slices.SortFunc(out, func(x, y directory.Account) int { return strings.Compare(x.Address.Key(), y.Address.Key()) })
	return out, err
}

// SetDomainAdmins implements directory.DomainAdminStore.
func (d *Directory) SetDomainAdmins(ctx context.Context, domain string, admins []mail.Address) error {
	a, err := lookupDomainName(domain)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		dom, err := getDomain(ctx, tx, a)
		if err != nil {
			return err
		}
		if dom.Deleted() {
			return fmt.Errorf("%w: %q", directory.ErrDomainDeleted, a)
		}
		keep, err := adminIDs(ctx, tx, admins)
		if err != nil {
			return err
		}
		old, err := listAccounts(ctx, tx, `id IN (SELECT account_id FROM account_admin_domains WHERE domain = $1)`, a)
		if err != nil {
			return err
		}
		for _, o := range old {
			if slices.Contains(keep, o.ID) {
				continue
			}
			rest := slices.DeleteFunc(slices.Clone(o.AdminDomains), func(s string) bool { return s == a })
			if err := setAdmin(ctx, tx, o.ID, rest); err != nil {
				return err
			}
		}
		for _, id := range keep {
			cur, err := getAccount(ctx, tx, `id = $1`, id)
			if err != nil {
				return err
			}
			if !slices.Contains(cur.AdminDomains, a) || cur.Role != directory.RoleDomainAdmin {
				if err := setAdmin(ctx, tx, id, append(cur.AdminDomains, a)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// adminIDs resolves the addresses of SetDomainAdmins to account IDs (ErrNotFound,
// ErrInvalid for a system admin).
func adminIDs(ctx context.Context, tx *sql.Tx, admins []mail.Address) ([]int64, error) {
	ids := make([]int64, 0, len(admins))
	for _, ad := range admins {
		key, ok := addrKey(ad)
		if !ok {
			return nil, notFound("account " + ad.String())
		}
		acct, err := getAccount(ctx, tx, `addr_key = $1`, key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ad, err)
		}
		if acct.Role == directory.RoleSystemAdmin {
			return nil, fmt.Errorf("%w: %s is a system admin", directory.ErrInvalid, ad)
		}
		ids = append(ids, acct.ID)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// setAdmin gives account id exactly the admin domains doms: role domain-admin, or user
// when doms is empty.
func setAdmin(ctx context.Context, tx *sql.Tx, id int64, doms []string) error {
	role := directory.RoleDomainAdmin
	if len(doms) == 0 {
		role = directory.RoleUser
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET role = $2 WHERE id = $1`, id, string(role)); err != nil {
		return fmt.Errorf("sqlite directory: account %d role: %w", id, err)
	}
	slices.Sort(doms)
	return setAdminDomains(ctx, tx, id, slices.Compact(doms))
}
