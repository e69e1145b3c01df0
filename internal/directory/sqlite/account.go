package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// normAddress re-parses an address given to a mutation, so a hand-built mail.Address gets
// the same checks (relay tricks, lengths, IDNA) as one from mail.Parse.
func normAddress(a mail.Address) (mail.Address, error) {
	if a.IsZero() {
		return a, fmt.Errorf("%w: empty address", directory.ErrInvalid)
	}
	p, err := mail.Parse(a.String())
	if err != nil {
		return a, fmt.Errorf("%w: address %q: %v", directory.ErrInvalid, a.String(), err)
	}
	return p, nil
}

// addrKey is the key form of an address given to a lookup; ok is false when the address
// cannot exist here.
func addrKey(a mail.Address) (key string, ok bool) {
	dom, err := mail.ParseDomain(a.Domain)
	if err != nil || a.Local == "" {
		return "", false
	}
	return mail.FoldLocal(a.Local) + "@" + dom, true
}

func notFound(what string) error { return fmt.Errorf("%w: %s", directory.ErrNotFound, what) }

const accountCols = `id, local, domain, password_hash, quota_bytes, quota_messages, enabled, role, shard, created_at, disabled_services`

func scanAccount(s scanner) (directory.Account, error) {
	var a directory.Account
	var created int64
	var services string
	err := s.Scan(&a.ID, &a.Address.Local, &a.Address.Domain, &a.PasswordHash, &a.QuotaBytes,
		&a.QuotaMessages, &a.Enabled, &a.Role, &a.Shard, &created, &services)
	a.CreatedAt, a.DisabledServices = fromMicros(created), splitServices(services)
	return a, err
}

// getAccount reads one account and its admin domains; where selects it.
func getAccount(ctx context.Context, q querier, where string, args ...any) (directory.Account, error) {
	a, err := scanAccount(q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("account")
	}
	if err != nil {
		return a, fmt.Errorf("sqlite directory: account: %w", err)
	}
	if a.AdminDomains, err = adminDomains(ctx, q, a.ID); err != nil {
		return a, err
	}
	return a, nil
}

func adminDomains(ctx context.Context, q querier, id int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT domain FROM account_admin_domains WHERE account_id = $1 ORDER BY domain`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: admin domains: %w", err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: admin domains: %w", err), rows.Close())
		}
		out = append(out, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: admin domains: %w", err)
	}
	return out, nil
}

// Account looks an account up by address, case-insensitively.
func (d *Directory) Account(ctx context.Context, addr mail.Address) (directory.Account, error) {
	key, ok := addrKey(addr)
	if !ok {
		return directory.Account{}, notFound("account " + addr.String())
	}
	var a directory.Account
	err := d.read(ctx, func(tx *sql.Tx) (err error) {
		a, err = getAccount(ctx, tx, `addr_key = $1`, key)
		return err
	})
	return a, err
}

// AccountByID looks an account up by ID within its domain; an ID of another domain is
// not found (no cross-tenant reads by ID).
func (d *Directory) AccountByID(ctx context.Context, domain string, id int64) (directory.Account, error) {
	dom, err := lookupDomainName(domain)
	if err != nil {
		return directory.Account{}, err
	}
	var a directory.Account
	err = d.read(ctx, func(tx *sql.Tx) (err error) {
		a, err = getAccount(ctx, tx, `id = $1 AND domain = $2`, id, dom)
		return err
	})
	return a, err
}

// Accounts lists the accounts of one domain ordered by address, or of all domains
// (ordered by domain, then address) when domain is "". ErrNotFound for an unknown domain.
func (d *Directory) Accounts(ctx context.Context, domain string) ([]directory.Account, error) {
	var out []directory.Account
	err := d.read(ctx, func(tx *sql.Tx) error {
		where, args := `1`, []any{}
		if domain != "" {
			dom, err := lookupDomainName(domain)
			if err != nil {
				return err
			}
			if _, err := getDomain(ctx, tx, dom); err != nil {
				return err
			}
			where, args = `domain = $1`, []any{dom}
		}
		var err error
		out, err = listAccounts(ctx, tx, where, args...)
		return err
	})
	return out, err
}

func listAccounts(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]directory.Account, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE `+where+` ORDER BY domain, addr_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: accounts: %w", err)
	}
	var out []directory.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: accounts: %w", err), rows.Close())
		}
		out = append(out, a)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: accounts: %w", err)
	}
	for i := range out {
		if out[i].Role != directory.RoleDomainAdmin {
			continue
		}
		if out[i].AdminDomains, err = adminDomains(ctx, tx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CreateAccount adds an account. The password is hashed before the transaction; inside it
// (which holds the write lock) the domain's MaxUsers and MaxQuotaBytes are checked, so
// concurrent creations can never overshoot the limit.
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
	services, err := directory.NormServices(n.DisabledServices)
	if err != nil {
		return directory.Account{}, err
	}
	shard := n.Shard
	if shard == "" {
		shard = directory.LocalShard
	}
	hash, err := d.hash(ctx, n.Password)
	if err != nil {
		return directory.Account{}, err
	}
	var a directory.Account
	err = d.write(ctx, func(tx *sql.Tx) error {
		dom, err := getDomain(ctx, tx, addr.Domain)
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
		quota, err := checkCreateLimits(ctx, tx, dom, n.QuotaBytes)
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO accounts (domain, local, addr_key, password_hash,
			quota_bytes, quota_messages, enabled, role, shard, created_at, disabled_services)
			VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10) RETURNING id`,
			addr.Domain, addr.Local, addr.Key(), hash, quota, n.QuotaMessages, string(role), shard,
			micros(d.now()), joinServices(services)).Scan(&id); err != nil {
			return fmt.Errorf("sqlite directory: create account %s: %w", addr.Key(), err)
		}
		if err := setAdminDomains(ctx, tx, id, admin); err != nil {
			return err
		}
		a, err = getAccount(ctx, tx, `id = $1`, id)
		return err
	})
	return a, err
}

// checkCreateLimits enforces MaxUsers and MaxQuotaBytes and returns the quota to store.
func checkCreateLimits(ctx context.Context, tx *sql.Tx, dom directory.Domain, quota int64) (int64, error) {
	if dom.MaxUsers > 0 {
		var count int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM accounts WHERE domain = $1`, dom.Name).Scan(&count); err != nil {
			return 0, fmt.Errorf("sqlite directory: count accounts: %w", err)
		}
		if count >= dom.MaxUsers {
			return 0, fmt.Errorf("%w: %q has %d of %d accounts", directory.ErrLimit, dom.Name, count, dom.MaxUsers)
		}
	}
	return checkQuota(dom, quota)
}

// checkQuota applies the domain's MaxQuotaBytes to a requested quota: 0 means the domain's
// maximum (which may be 0, unlimited); more than the maximum is ErrLimit.
func checkQuota(dom directory.Domain, quota int64) (int64, error) {
	if quota == 0 {
		return dom.MaxQuotaBytes, nil
	}
	if dom.MaxQuotaBytes > 0 && quota > dom.MaxQuotaBytes {
		return 0, fmt.Errorf("%w: quota %d exceeds %q's maximum %d", directory.ErrLimit, quota, dom.Name, dom.MaxQuotaBytes)
	}
	return quota, nil
}

// checkAddressFree fails with ErrExists when key is an account or an alias.
func checkAddressFree(ctx context.Context, tx *sql.Tx, key string) error {
	var taken bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE addr_key = $1)
		OR EXISTS (SELECT 1 FROM aliases WHERE source = $1)`, key).Scan(&taken); err != nil {
		return fmt.Errorf("sqlite directory: check address: %w", err)
	}
	if taken {
		return fmt.Errorf("%w: %s", directory.ErrExists, key)
	}
	return nil
}

// normRole validates a role and its admin domains. A domain admin given no domains
// administers its own; other roles take no admin domains (ErrInvalid), so a list is never
// silently ignored.
func normRole(role directory.Role, admin []string, own string) (directory.Role, []string, error) {
	if role == "" {
		role = directory.RoleUser
	}
	if !role.Valid() {
		return "", nil, fmt.Errorf("%w: role %q", directory.ErrInvalid, role)
	}
	if role != directory.RoleDomainAdmin {
		if len(admin) > 0 {
			return "", nil, fmt.Errorf("%w: admin domains for role %q", directory.ErrInvalid, role)
		}
		return role, nil, nil
	}
	if len(admin) == 0 {
		return role, []string{own}, nil
	}
	out := make([]string, 0, len(admin))
	for _, s := range admin {
		a, err := normDomain(s)
		if err != nil {
			return "", nil, err
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return role, slices.Compact(out), nil
}

// setAdminDomains replaces an account's admin domains; each must exist (ErrInvalid).
func setAdminDomains(ctx context.Context, tx *sql.Tx, id int64, domains []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM account_admin_domains WHERE account_id = $1`, id); err != nil {
		return fmt.Errorf("sqlite directory: admin domains: %w", err)
	}
	for _, dom := range domains {
		if _, err := getDomain(ctx, tx, dom); err != nil {
			if errors.Is(err, directory.ErrNotFound) {
				return fmt.Errorf("%w: admin domain %q does not exist", directory.ErrInvalid, dom)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_admin_domains (account_id, domain) VALUES ($1, $2)`, id, dom); err != nil {
			return fmt.Errorf("sqlite directory: admin domains: %w", err)
		}
	}
	return nil
}

// DeleteAccount removes the account and its admin grants. Alias targets that deliver to
// it (its address, or one of its "+detail" sub-addresses that is not an account itself)
// are removed from every alias, and aliases left without targets are deleted: this covers
// "aliases whose only target it was" and leaves no dangling target that a later account
// with the same address would inherit.
func (d *Directory) DeleteAccount(ctx context.Context, addr mail.Address) error {
	key, ok := addrKey(addr)
	if !ok {
		return notFound("account " + addr.String())
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE addr_key = $1`, key)
		if err != nil {
			return fmt.Errorf("sqlite directory: delete account %s: %w", key, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(notFound("account "+key), err)
		}
		return pruneTargets(ctx, tx, `target_key = $1 OR (base_key = $1 AND target_key NOT IN (SELECT addr_key FROM accounts))`, key)
	})
}

// pruneTargets deletes the alias targets matching where and then every alias among theirs
// that has no target left.
func pruneTargets(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	rows, err := tx.QueryContext(ctx, `DELETE FROM alias_targets WHERE `+where+` RETURNING alias_id`, args...)
	if err != nil {
		return fmt.Errorf("sqlite directory: prune alias targets: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return errors.Join(fmt.Errorf("sqlite directory: prune alias targets: %w", err), rows.Close())
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite directory: prune alias targets: %w", err)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM aliases WHERE id = $1
			AND NOT EXISTS (SELECT 1 FROM alias_targets WHERE alias_id = $1)`, id); err != nil {
			return fmt.Errorf("sqlite directory: prune aliases: %w", err)
		}
	}
	return nil
}
