package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// accountCols are an account's columns (table alias a) with its admin domains.
const accountCols = `a.id, a.local, a.domain, a.password_hash, a.quota_bytes, a.quota_messages,
	a.enabled, a.role, a.shard, a.created_at, a.disabled_services,
	coalesce((SELECT array_agg(g.domain ORDER BY g.domain) FROM account_admin_domains g WHERE g.account_id = a.id), '{}')`

// accountSelect reads accounts with their admin domains, one row each.
const accountSelect = `SELECT ` + accountCols + ` FROM accounts a`

// scanAccount scans accountCols and then extra destinations.
func scanAccount(row pgx.Row, extra ...any) (directory.Account, error) {
	var a directory.Account
	var role string
	err := row.Scan(append([]any{&a.ID, &a.Address.Local, &a.Address.Domain, &a.PasswordHash, &a.QuotaBytes,
		&a.QuotaMessages, &a.Enabled, &role, &a.Shard, &a.CreatedAt, &a.DisabledServices, &a.AdminDomains}, extra...)...)
	a.Role, a.CreatedAt = directory.Role(role), a.CreatedAt.UTC()
	a.DisabledServices = nilIfEmpty(a.DisabledServices)
	if len(a.AdminDomains) == 0 {
		a.AdminDomains = nil
	}
	return a, err
}

// getAccount reads one account; where selects it (columns of alias a).
func getAccount(ctx context.Context, q querier, where string, args ...any) (directory.Account, error) {
	a, err := scanAccount(q.QueryRow(ctx, accountSelect+` WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, notFound("account")
	}
	if err != nil {
		return a, fmt.Errorf("postgres directory: account: %w", err)
	}
	return a, nil
}

// Account looks an account up by address, case-insensitively.
func (d *Directory) Account(ctx context.Context, addr mail.Address) (directory.Account, error) {
	key, ok := lookupKey(addr)
	if !ok {
		return directory.Account{}, notFound("account " + addr.String())
	}
	return getAccount(ctx, d.pool, `a.addr_key = $1`, key)
}

// AccountByID looks an account up by ID within its domain; an ID of another domain is
// not found (no cross-tenant reads by ID).
func (d *Directory) AccountByID(ctx context.Context, domain string, id int64) (directory.Account, error) {
	dom, err := lookupDomain(domain)
	if err != nil {
		return directory.Account{}, err
	}
	return getAccount(ctx, d.pool, `a.id = $1 AND a.domain = $2`, id, dom)
}

// Accounts lists the accounts of one domain ordered by address, or of all domains
// (ordered by domain, then address) when domain is "". ErrNotFound for an unknown domain.
func (d *Directory) Accounts(ctx context.Context, domain string) ([]directory.Account, error) {
	var out []directory.Account
	err := d.read(ctx, func(tx pgx.Tx) error {
		where, args := `true`, []any{}
		if domain != "" {
			dom, err := lookupDomain(domain)
			if err != nil {
				return err
			}
			if _, err := getDomain(ctx, tx, dom, ""); err != nil {
				return err
			}
			where, args = `a.domain = $1`, []any{dom}
		}
		rows, err := tx.Query(ctx, accountSelect+` WHERE `+where+` ORDER BY a.domain, a.addr_key`, args...)
		if err == nil {
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Account, error) { return scanAccount(r) })
		}
		if err != nil {
			return fmt.Errorf("postgres directory: accounts: %w", err)
		}
		return nil
	})
	return out, err
}

// CreateAccount adds an account. The password is hashed before the transaction; inside
// it the domain row is locked, so the address check and MaxUsers hold against every
// concurrent creation on any node.
func (d *Directory) CreateAccount(ctx context.Context, n directory.NewAccount) (directory.Account, error) {
	addr, err := normAddress(n.Address)
	if err != nil {
		return directory.Account{}, err
	}
	role, admin, err := normRole(n.Role, n.AdminDomains, addr.Domain)
	if err != nil {
		return directory.Account{}, err
	}
	if n.QuotaBytes < 0 || n.QuotaMessages < 0 {
		return directory.Account{}, fmt.Errorf("%w: negative quota", directory.ErrInvalid)
	}
	services, err := normServices(n.DisabledServices)
	if err != nil {
		return directory.Account{}, err
	}
	hash, err := d.hash(ctx, n.Password)
	if err != nil {
		return directory.Account{}, err
	}
	var a directory.Account
	err = d.write(ctx, func(tx pgx.Tx) error {
		dom, err := getDomain(ctx, tx, addr.Domain, "FOR NO KEY UPDATE")
		if err != nil {
			return err
		}
		if !dom.Enabled {
			return fmt.Errorf("%w: domain %q", directory.ErrDisabled, dom.Name)
		}
		// A taken address is the more useful answer than a full domain.
		if err := checkAddressFree(ctx, tx, addr.Key()); err != nil {
			return err
		}
		if err := checkMaxUsers(ctx, tx, dom); err != nil {
			return err
		}
		quota, err := effectiveQuota(dom, n.QuotaBytes)
		if err != nil {
			return err
		}
		shard, err := placeAccount(ctx, tx, n.Shard)
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO accounts (domain, local, addr_key, password_hash,
			quota_bytes, quota_messages, enabled, role, shard, created_at, disabled_services)
			VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, $9, $10) RETURNING id`,
			addr.Domain, addr.Local, addr.Key(), hash, quota, n.QuotaMessages, string(role), shard,
			d.now(), services).Scan(&id); err != nil {
			if pgCode(err) == codeUniqueViolation {
				return fmt.Errorf("%w: %s", directory.ErrExists, addr.Key())
			}
			return fmt.Errorf("postgres directory: create account %s: %w", addr.Key(), err)
		}
		if err := setAdminDomains(ctx, tx, id, admin); err != nil {
			return err
		}
		a, err = getAccount(ctx, tx, `a.id = $1`, id)
		return err
	})
	return a, err
}

// checkMaxUsers fails with ErrLimit when the (locked) domain is full.
func checkMaxUsers(ctx context.Context, tx pgx.Tx, dom directory.Domain) error {
	if dom.MaxUsers == 0 {
		return nil
	}
	var count int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE domain = $1`, dom.Name).Scan(&count); err != nil {
		return fmt.Errorf("postgres directory: count accounts: %w", err)
	}
	if count >= dom.MaxUsers {
		return fmt.Errorf("%w: %q has %d of %d accounts", directory.ErrLimit, dom.Name, count, dom.MaxUsers)
	}
	return nil
}

// checkAddressFree fails with ErrExists when key is an account or an alias.
func checkAddressFree(ctx context.Context, tx pgx.Tx, key string) error {
	var taken bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE addr_key = $1)
		OR EXISTS (SELECT 1 FROM aliases WHERE source = $1)`, key).Scan(&taken); err != nil {
		return fmt.Errorf("postgres directory: check address: %w", err)
	}
	if taken {
		return fmt.Errorf("%w: %s", directory.ErrExists, key)
	}
	return nil
}

// setAdminDomains replaces an account's admin domains; each must exist (ErrInvalid).
func setAdminDomains(ctx context.Context, tx pgx.Tx, id int64, domains []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM account_admin_domains WHERE account_id = $1`, id); err != nil {
		return fmt.Errorf("postgres directory: admin domains: %w", err)
	}
	if len(domains) == 0 {
		return nil
	}
	var missing []string
	rows, err := tx.Query(ctx, `SELECT n FROM unnest($1::text[]) n WHERE NOT EXISTS (SELECT 1 FROM domains WHERE name = n)`, domains)
	if err == nil {
		missing, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return fmt.Errorf("postgres directory: admin domains: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: admin domain %q does not exist", directory.ErrInvalid, missing[0])
	}
	if _, err := tx.Exec(ctx, `INSERT INTO account_admin_domains (account_id, domain) SELECT $1, unnest($2::text[])`, id, domains); err != nil {
		if pgCode(err) == codeForeignKeyViolation { // the domain was deleted meanwhile
			return fmt.Errorf("%w: admin domain deleted: %v", directory.ErrInvalid, err)
		}
		return fmt.Errorf("postgres directory: admin domains: %w", err)
	}
	return nil
}

// DeleteAccount removes the account and its admin grants. Alias targets that deliver to
// it (its address, or one of its "+detail" sub-addresses that is not an account itself)
// are removed from every alias, and aliases left without targets are deleted: this covers
// "aliases whose only target it was" and leaves no dangling target that a later account
// with the same address would inherit.
func (d *Directory) DeleteAccount(ctx context.Context, addr mail.Address) error {
	key, ok := lookupKey(addr)
	if !ok {
		return notFound("account " + addr.String())
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM accounts WHERE addr_key = $1`, key)
		if err != nil {
			return fmt.Errorf("postgres directory: delete account %s: %w", key, err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("account " + key)
		}
		return pruneTargets(ctx, tx, `target_key = $1 OR (base_key = $1
			AND NOT EXISTS (SELECT 1 FROM accounts x WHERE x.addr_key = alias_targets.target_key))`, key)
	})
}

// pruneTargets deletes the alias targets matching where, then every alias among theirs
// left without a target. (Two statements: a data-modifying CTE would not see the first's
// deletions.)
func pruneTargets(ctx context.Context, tx pgx.Tx, where string, args ...any) error {
	rows, err := tx.Query(ctx, `DELETE FROM alias_targets WHERE `+where+` RETURNING alias_id`, args...)
	var ids []int64
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err != nil {
		return fmt.Errorf("postgres directory: prune alias targets: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `DELETE FROM aliases WHERE id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM alias_targets t WHERE t.alias_id = aliases.id)`, ids); err != nil {
		return fmt.Errorf("postgres directory: prune aliases: %w", err)
	}
	return nil
}
