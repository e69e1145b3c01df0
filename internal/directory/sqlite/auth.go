package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// UpdateAccount applies u to the account at addr in one transaction. A new password is
// hashed before it. QuotaBytes follows CreateAccount's rule (0 = the domain's maximum,
// more than it is ErrLimit). Changing the role away from domain-admin drops the admin
// domains; a domain admin given an empty list administers its own domain.
func (d *Directory) UpdateAccount(ctx context.Context, addr mail.Address, u directory.AccountUpdate) (directory.Account, error) {
	key, ok := addrKey(addr)
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
	err = d.write(ctx, func(tx *sql.Tx) error {
		cur, err := getAccount(ctx, tx, `addr_key = $1`, key)
		if err != nil {
			return err
		}
		next, err := applyUpdate(ctx, tx, cur, u, hash)
		if err != nil {
			return err
		}
		if u.DisabledServices != nil {
			next.DisabledServices = services
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = $2, quota_bytes = $3,
			quota_messages = $4, enabled = $5, role = $6, shard = $7, disabled_services = $8 WHERE id = $1`,
			next.ID, next.PasswordHash, next.QuotaBytes, next.QuotaMessages, boolInt(next.Enabled),
			string(next.Role), next.Shard, joinServices(next.DisabledServices)); err != nil {
			return fmt.Errorf("sqlite directory: update account %s: %w", key, err)
		}
		if err := setAdminDomains(ctx, tx, next.ID, next.AdminDomains); err != nil {
			return err
		}
		a, err = getAccount(ctx, tx, `id = $1`, next.ID)
		return err
	})
	return a, err
}

// checkUpdate validates the fields of u that need no database and returns its normalised
// DisabledServices (nil when u leaves them alone or clears them).
func checkUpdate(u directory.AccountUpdate) ([]string, error) {
	if u.QuotaBytes != nil && *u.QuotaBytes < 0 || u.QuotaMessages != nil && *u.QuotaMessages < 0 {
		return nil, fmt.Errorf("%w: negative quota", directory.ErrInvalid)
	}
	if u.Shard != nil && *u.Shard == "" {
		return nil, fmt.Errorf("%w: empty shard", directory.ErrInvalid)
	}
	if u.DisabledServices == nil {
		return nil, nil
	}
	return directory.NormServices(*u.DisabledServices)
}

// applyUpdate returns cur with u applied and checked against the domain's limits.
func applyUpdate(ctx context.Context, tx *sql.Tx, cur directory.Account, u directory.AccountUpdate, hash string) (directory.Account, error) {
	next := cur
	if u.Password != nil {
		next.PasswordHash = hash
	}
	if u.QuotaBytes != nil {
		dom, err := getDomain(ctx, tx, cur.Address.Domain)
		if err != nil {
			return next, err
		}
		if next.QuotaBytes, err = checkQuota(dom, *u.QuotaBytes); err != nil {
			return next, err
		}
	}
	if u.QuotaMessages != nil {
		next.QuotaMessages = *u.QuotaMessages
	}
	if u.Enabled != nil {
		next.Enabled = *u.Enabled
	}
	if u.Shard != nil {
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

// loginAccount finds the account of a login and whether its domain is enabled.
func (d *Directory) loginAccount(ctx context.Context, login string) (directory.Account, bool, error) {
	addr, err := mail.Parse(login)
	if err != nil {
		return directory.Account{}, false, notFound("login")
	}
	var a directory.Account
	var enabled bool
	err = d.read(ctx, func(tx *sql.Tx) error {
		if a, err = getAccount(ctx, tx, `addr_key = $1`, addr.Key()); err != nil {
			return err
		}
		dom, err := getDomain(ctx, tx, a.Address.Domain)
		enabled = dom.Enabled
		return err
	})
	return a, enabled, err
}

// rehash replaces a's hash with a fresh one, unless the hash changed meanwhile (a password
// change wins). It returns the hash now in effect for a.
func (d *Directory) rehash(ctx context.Context, a directory.Account, password string) string {
	h, err := d.hash(ctx, password)
	if err == nil {
		err = d.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = $1 WHERE id = $2 AND password_hash = $3`,
				h, a.ID, a.PasswordHash)
			return err
		})
	}
	if err != nil {
		d.log.Error("sqlite directory: password rehash", "account", a.ID, "err", err)
		return a.PasswordHash
	}
	return h
}

// SetPasswordHash stores an already hashed password (an import from another system:
// argon2id or bcrypt, see directory.ValidHash). Imported bcrypt hashes are replaced by
// argon2id at the account's next successful login. ErrInvalid for a hash VerifyPassword
// cannot read, ErrNotFound for an unknown account.
func (d *Directory) SetPasswordHash(ctx context.Context, addr mail.Address, hash string) error {
	key, ok := addrKey(addr)
	if !ok {
		return notFound("account " + addr.String())
	}
	if !directory.ValidHash(hash) {
		return directory.ErrBadHash
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = $1 WHERE addr_key = $2`, hash, key)
		if err != nil {
			return fmt.Errorf("sqlite directory: set password hash: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(notFound("account "+key), err)
		}
		return nil
	})
}
