package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// UpdateAccount applies u to the account at addr in one transaction that locks the
// account row. A new password is hashed before it. QuotaBytes follows CreateAccount's
// rule (0 = the domain's maximum, more than it is ErrLimit; the domain row is share-locked
// so a concurrent UpdateDomain cannot slip between check and write). Changing the role
// away from domain-admin drops the admin domains; a domain admin given an empty list
// administers its own domain. A new Shard must be registered when any shard is.
func (d *Directory) UpdateAccount(ctx context.Context, addr mail.Address, u directory.AccountUpdate) (directory.Account, error) {
	key, ok := lookupKey(addr)
	if !ok {
		return directory.Account{}, notFound("account " + addr.String())
	}
	services, err := checkUpdate(u)
	if err != nil {
		return directory.Account{}, err
	}
	var hash string
	if u.Password != nil {
		var err error
		if hash, err = d.hash(ctx, *u.Password); err != nil {
			return directory.Account{}, err
		}
	}
	var a directory.Account
	err = d.write(ctx, func(tx pgx.Tx) error {
		// Lock, then read in a later statement (a newer snapshot): the admin domains are
		// then those of the last committed update, never a stale list to write back.
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM accounts WHERE addr_key = $1 FOR NO KEY UPDATE`, key).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("account " + key)
		} else if err != nil {
			return fmt.Errorf("postgres directory: update account %s: %w", key, err)
		}
		cur, err := getAccount(ctx, tx, `a.id = $1`, id)
		if err != nil {
			return err
		}
		next, err := applyUpdate(ctx, tx, cur, u, hash)
		if err != nil {
			return err
		}
		disabled := services
		if u.DisabledServices == nil { // left alone: write back what is there
			disabled = append([]string{}, next.DisabledServices...)
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = $2, quota_bytes = $3,
			quota_messages = $4, enabled = $5, role = $6, shard = $7, disabled_services = $8 WHERE id = $1`,
			next.ID, next.PasswordHash, next.QuotaBytes, next.QuotaMessages, next.Enabled,
			string(next.Role), next.Shard, disabled); err != nil {
			return fmt.Errorf("postgres directory: update account %s: %w", key, err)
		}
		if err := setAdminDomains(ctx, tx, next.ID, next.AdminDomains); err != nil {
			return err
		}
		a, err = getAccount(ctx, tx, `a.id = $1`, next.ID)
		return err
	})
	return a, err
}

// applyUpdate returns cur with u applied and checked against the domain's limits.
func applyUpdate(ctx context.Context, tx pgx.Tx, cur directory.Account, u directory.AccountUpdate, hash string) (directory.Account, error) {
	next := cur
	if u.Password != nil {
		next.PasswordHash = hash
	}
	if u.QuotaBytes != nil {
		dom, err := getDomain(ctx, tx, cur.Address.Domain, "FOR SHARE")
		if err != nil {
			return next, err
		}
		if next.QuotaBytes, err = effectiveQuota(dom, *u.QuotaBytes); err != nil {
			return next, err
		}
	}
	if u.QuotaMessages != nil {
		next.QuotaMessages = *u.QuotaMessages
	}
	if u.Enabled != nil {
		next.Enabled = *u.Enabled
	}
	if u.Shard != nil && *u.Shard != cur.Shard {
		if err := checkShardRegistered(ctx, tx, *u.Shard); err != nil {
			return next, err
		}
		next.Shard = *u.Shard
	}
	role, admin := cur.Role, cur.AdminDomains
	if u.Role != nil {
		role = *u.Role
		if role != directory.RoleDomainAdmin {
			admin = nil
		}
	}
	if u.AdminDomains != nil {
		admin = *u.AdminDomains
	}
	var err error
	next.Role, next.AdminDomains, err = normRole(role, admin, cur.Address.Domain)
	return next, err
}

// Authenticate checks a login (the full address, case-insensitive) and password
// (directory.AuthenticateWith: stand-in hash for unknown logins, the hash bound, the auth
// cache, rehash on success). The stand-in is made at the first call, whatever the login,
// so that known and unknown logins still cost the same.
func (d *Directory) Authenticate(ctx context.Context, login, password string) (directory.Account, error) {
	dummy, err := d.dummyHash()
	if err != nil {
		return directory.Account{}, err
	}
	return directory.AuthenticateWith(ctx, authLogin{d}, d.authCache, dummy, login, password)
}

// authLogin is directory.Login over d.
type authLogin struct{ d *Directory }

func (l authLogin) LoginAccount(ctx context.Context, login string) (directory.Account, bool, error) {
	return l.d.loginAccount(ctx, login)
}

func (l authLogin) Verify(ctx context.Context, hash, pw string) (ok, rehash bool, err error) {
	return l.d.verify(ctx, hash, pw)
}

func (l authLogin) Rehash(ctx context.Context, a directory.Account, pw string) string {
	return l.d.rehash(ctx, a, pw)
}

// loginAccount finds the account of a login and whether its domain is enabled, in one
// statement (one snapshot).
func (d *Directory) loginAccount(ctx context.Context, login string) (directory.Account, bool, error) {
	addr, err := mail.Parse(login)
	if err != nil {
		return directory.Account{}, false, notFound("login")
	}
	var enabled bool
	a, err := scanAccount(d.pool.QueryRow(ctx, `SELECT `+accountCols+`, d.enabled AND d.deleted_at IS NULL
		FROM accounts a JOIN domains d ON d.name = a.domain WHERE a.addr_key = $1`, addr.Key()), &enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, false, notFound("login")
	}
	if err != nil {
		return a, false, fmt.Errorf("postgres directory: login: %w", err)
	}
	return a, enabled, nil
}

// rehash replaces a's hash with a fresh one, unless the hash changed meanwhile (a password
// change wins). It returns the hash now in effect for a.
func (d *Directory) rehash(ctx context.Context, a directory.Account, password string) string {
	h, err := d.hash(ctx, password)
	if err == nil {
		_, err = d.pool.Exec(ctx, `UPDATE accounts SET password_hash = $1 WHERE id = $2 AND password_hash = $3`,
			h, a.ID, a.PasswordHash)
	}
	if err != nil {
		d.log.Error("postgres directory: password rehash", "account", a.ID, "err", err)
		return a.PasswordHash
	}
	return h
}

// SetPasswordHash stores an already hashed password (an import from another system:
// argon2id or bcrypt, see directory.ValidHash). Imported bcrypt hashes are replaced by
// argon2id at the account's next successful login. ErrInvalid for a hash VerifyPassword
// cannot read, ErrNotFound for an unknown account.
func (d *Directory) SetPasswordHash(ctx context.Context, addr mail.Address, hash string) error {
	key, ok := lookupKey(addr)
	if !ok {
		return notFound("account " + addr.String())
	}
	if !directory.ValidHash(hash) {
		return directory.ErrBadHash
	}
	tag, err := d.pool.Exec(ctx, `UPDATE accounts SET password_hash = $1 WHERE addr_key = $2`, hash, key)
	if err != nil {
		return fmt.Errorf("postgres directory: set password hash: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("account " + key)
	}
	return nil
}
