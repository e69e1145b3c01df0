package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// The domain lifecycle (directory.DomainLifecycle, DomainAliasStore, DomainAdminStore; the
// model is in package directory, domainlife.go). Claim and restore are conditional
// updates of the domain's row: under READ COMMITTED the second of two concurrent ones
// re-checks its condition against the first's committed row, so exactly one wins.

var (
	_ directory.DomainLifecycle  = (*Directory)(nil)
	_ directory.DomainAliasStore = (*Directory)(nil)
	_ directory.DomainAdminStore = (*Directory)(nil)
)

// schemaV9 adds the domain lifecycle: deletion with a grace period (NULL = not deleted /
// no purge lease) and alias domains, which go with their target.
const schemaV9 = `
ALTER TABLE domains ADD COLUMN deleted_at timestamptz, ADD COLUMN purge_at timestamptz,
	ADD COLUMN purge_lease timestamptz,  -- a purge holds the domain until then
	ADD CONSTRAINT domains_deleted_purge CHECK ((deleted_at IS NULL) = (purge_at IS NULL));
CREATE INDEX domains_by_purge ON domains(purge_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE domain_aliases (
	name       text COLLATE "C" PRIMARY KEY,  -- ASCII, lower case; never also a row of domains
	target     text COLLATE "C" NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	created_at timestamptz NOT NULL
);
CREATE INDEX domain_aliases_by_target ON domain_aliases(target);
`

// domainNamesLock is the pg_advisory_xact_lock key that serialises the creation of
// domains and alias domains, whose names share one space across two tables ("mailgrd"
// and "D" in ASCII).
const domainNamesLock int64 = 0x6d61696c67726444

func lockDomainNames(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, domainNamesLock); err != nil {
		return fmt.Errorf("postgres directory: lock domain names: %w", err)
	}
	return nil
}

// aliasTarget returns the target of alias domain name, "" when name is not one.
func aliasTarget(ctx context.Context, q querier, name string) (string, error) {
	var t string
	err := q.QueryRow(ctx, `SELECT target FROM domain_aliases WHERE name = $1`, name).Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres directory: alias domain %q: %w", name, err)
	}
	return t, nil
}

// MarkDomainDeleted implements directory.DomainLifecycle.
func (d *Directory) MarkDomainDeleted(ctx context.Context, name string, purgeAt time.Time) error {
	a, err := lookupDomain(name)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		dom, err := getDomain(ctx, tx, a, "FOR UPDATE")
		if err != nil {
			return err
		}
		if dom.Deleted() {
			return fmt.Errorf("%w: %q", directory.ErrDomainDeleted, a)
		}
		if _, err := tx.Exec(ctx, `UPDATE domains SET deleted_at = $2, purge_at = $3, purge_lease = NULL WHERE name = $1`,
			a, d.now(), purgeAt); err != nil {
			return fmt.Errorf("postgres directory: delete domain %q: %w", a, err)
		}
		return nil
	})
}

// RestoreDomain implements directory.DomainLifecycle.
func (d *Directory) RestoreDomain(ctx context.Context, name string) error {
	a, err := lookupDomain(name)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE domains SET deleted_at = NULL, purge_at = NULL
			WHERE name = $1 AND deleted_at IS NOT NULL AND purge_lease IS NULL AND purge_at > $2`, a, d.now())
		if err != nil {
			return fmt.Errorf("postgres directory: restore domain %q: %w", a, err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		dom, err := getDomain(ctx, tx, a, "")
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
	err := d.write(ctx, func(tx pgx.Tx) error {
		now := d.now()
		err := tx.QueryRow(ctx, `UPDATE domains SET purge_lease = $2 WHERE name = (
			SELECT name FROM domains WHERE deleted_at IS NOT NULL AND purge_at <= $1
				AND (purge_lease IS NULL OR purge_lease <= $1)
			ORDER BY purge_at, name LIMIT 1 FOR UPDATE SKIP LOCKED)
			AND deleted_at IS NOT NULL AND (purge_lease IS NULL OR purge_lease <= $1)
			RETURNING name`, now, now.Add(lease)).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			name = ""
			return nil
		}
		if err != nil {
			return fmt.Errorf("postgres directory: claim purge: %w", err)
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
	target, err := lookupDomain(al.Target)
	if err != nil {
		return err
	}
	if name == target {
		return fmt.Errorf("%w: %q cannot be an alias of itself", directory.ErrInvalid, name)
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		if err := lockDomainNames(ctx, tx); err != nil {
			return err
		}
		if _, err := getDomain(ctx, tx, name, ""); err == nil {
			return fmt.Errorf("%w: %q is a domain", directory.ErrExists, name)
		} else if !errors.Is(err, directory.ErrNotFound) {
			return err
		}
		dom, err := getDomain(ctx, tx, target, "FOR SHARE")
		if err != nil {
			return err
		}
		if dom.Deleted() {
			return fmt.Errorf("%w: %q", directory.ErrDomainDeleted, target)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO domain_aliases (name, target, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, name, target, d.now())
		if err != nil {
			return fmt.Errorf("postgres directory: alias domain %q: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: alias domain %q", directory.ErrExists, name)
		}
		return nil
	})
}

// DomainAliases implements directory.DomainAliasStore.
func (d *Directory) DomainAliases(ctx context.Context, target string) ([]directory.DomainAlias, error) {
	where, args := `true`, []any{}
	if target != "" {
		t, err := lookupDomain(target)
		if err != nil {
			return nil, nil
		}
		where, args = `target = $1`, []any{t}
	}
	rows, err := d.pool.Query(ctx, `SELECT name, target, created_at FROM domain_aliases WHERE `+where+` ORDER BY name`, args...)
	var out []directory.DomainAlias
	if err == nil {
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.DomainAlias, error) {
			var a directory.DomainAlias
			err := r.Scan(&a.Name, &a.Target, &a.CreatedAt)
			a.CreatedAt = a.CreatedAt.UTC()
			return a, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres directory: alias domains: %w", err)
	}
	return out, nil
}

// DeleteDomainAlias implements directory.DomainAliasStore.
func (d *Directory) DeleteDomainAlias(ctx context.Context, name string) error {
	a, err := lookupDomain(name)
	if err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM domain_aliases WHERE name = $1`, a)
	if err != nil {
		return fmt.Errorf("postgres directory: delete alias domain %q: %w", a, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: alias domain %q", directory.ErrNotFound, a)
	}
	return nil
}

// DomainAdmins implements directory.DomainAdminStore.
func (d *Directory) DomainAdmins(ctx context.Context, domain string) ([]directory.Account, error) {
	a, err := lookupDomain(domain)
	if err != nil {
		return nil, err
	}
	rows, err := d.pool.Query(ctx, accountSelect+` WHERE a.role = 'domain-admin'
		AND EXISTS (SELECT 1 FROM account_admin_domains g WHERE g.account_id = a.id AND g.domain = $1)
		ORDER BY a.addr_key`, a)
	var out []directory.Account
	if err == nil {
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Account, error) { return scanAccount(r) })
	}
	if err != nil {
		return nil, fmt.Errorf("postgres directory: domain admins: %w", err)
	}
	return out, nil
}

// SetDomainAdmins implements directory.DomainAdminStore. The domain's row is locked
// first, then the accounts in ID order, so concurrent transfers cannot deadlock.
func (d *Directory) SetDomainAdmins(ctx context.Context, domain string, admins []mail.Address) error {
	a, err := lookupDomain(domain)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		dom, err := getDomain(ctx, tx, a, "FOR UPDATE")
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
		rows, err := tx.Query(ctx, `SELECT id FROM accounts WHERE id = ANY($1)
			OR id IN (SELECT account_id FROM account_admin_domains WHERE domain = $2) ORDER BY id FOR UPDATE`, keep, a)
		var ids []int64
		if err == nil {
			ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if err != nil {
			return fmt.Errorf("postgres directory: domain admins: %w", err)
		}
		for _, id := range ids {
			cur, err := getAccount(ctx, tx, `a.id = $1`, id)
			if err != nil {
				return err
			}
			doms := slices.DeleteFunc(slices.Clone(cur.AdminDomains), func(s string) bool { return s == a })
			if slices.Contains(keep, id) {
				doms = append(doms, a)
			}
			if err := setAdmin(ctx, tx, id, doms); err != nil {
				return err
			}
		}
		return nil
	})
}

// adminIDs resolves the addresses of SetDomainAdmins to account IDs (ErrNotFound,
// ErrInvalid for a system admin).
func adminIDs(ctx context.Context, tx pgx.Tx, admins []mail.Address) ([]int64, error) {
	ids := make([]int64, 0, len(admins))
	for _, ad := range admins {
		key, ok := lookupKey(ad)
		if !ok {
			return nil, notFound("account " + ad.String())
		}
		acct, err := getAccount(ctx, tx, `a.addr_key = $1`, key)
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
func setAdmin(ctx context.Context, tx pgx.Tx, id int64, doms []string) error {
	role := directory.RoleDomainAdmin
	if len(doms) == 0 {
		role = directory.RoleUser
	}
	if _, err := tx.Exec(ctx, `UPDATE accounts SET role = $2 WHERE id = $1`, id, string(role)); err != nil {
		return fmt.Errorf("postgres directory: account %d role: %w", id, err)
	}
	slices.Sort(doms)
	return setAdminDomains(ctx, tx, id, slices.Compact(doms))
}
