package directory

import (
	"context"
	"errors"
	"fmt"
)

// Login is what AuthenticateWith needs from a driver.
type Login interface {
	// LoginAccount returns the account of a login (the full address, case-insensitive)
	// and whether its domain is enabled, read in one snapshot; an error wrapping
	// ErrNotFound when there is no such account (or the login is not an address).
	LoginAccount(ctx context.Context, login string) (Account, bool, error)
	// Verify checks pw against hash (VerifyPassword) under the driver's bound on
	// concurrent hashing.
	Verify(ctx context.Context, hash, pw string) (ok, rehash bool, err error)
	// Rehash replaces a's stored hash with a fresh one of pw, unless the stored hash
	// changed meanwhile (a password change wins), and returns the hash now in effect; a
	// failure is the driver's to log, and gives a's old hash.
	Rehash(ctx context.Context, a Account, pw string) string
}

// AuthenticateWith is Directory.Authenticate over a driver's Login: it checks a login (the
// full address, case-insensitive) and password.
//
// Unknown logins verify the password against dummyHash (a stand-in hash), so they take the
// time of a real verification and cannot be told from a wrong password by timing. Whether
// the account or its domain is disabled is only revealed (ErrDisabled) after the right
// password. A successful login with a hash that needs rehashing (bcrypt import, old argon2
// parameters) stores a fresh argon2id hash; a failure to do so does not fail the login.
//
// The account is read on every call; the verification is skipped when cache (nil: none)
// holds this account and password with the stored hash just read, so a password change, a
// disable or a delete applies to the next login. Only complete successes are added to it.
func AuthenticateWith(ctx context.Context, l Login, cache *AuthCache, dummyHash, login, password string) (Account, error) {
	fail := fmt.Errorf("%w: %s", ErrAuthFailed, login)
	a, domainEnabled, err := l.LoginAccount(ctx, login)
	if errors.Is(err, ErrNotFound) {
		if _, _, verr := l.Verify(ctx, dummyHash, password); verr != nil {
			return Account{}, verr
		}
		return Account{}, fail
	}
	if err != nil {
		return Account{}, err
	}
	var rehash bool
	if !cache.Hit(a.ID, password, a.PasswordHash) {
		var ok bool
		ok, rehash, err = l.Verify(ctx, a.PasswordHash, password)
		if err != nil {
			return Account{}, fmt.Errorf("directory: account %d: %w", a.ID, err)
		}
		if !ok {
			return Account{}, fail
		}
	}
	if !a.Enabled || !domainEnabled {
		return Account{}, fmt.Errorf("%w: %s", ErrDisabled, a.Address)
	}
	if rehash {
		old := a.PasswordHash
		if a.PasswordHash = l.Rehash(ctx, a, password); a.PasswordHash == old {
			return a, nil // not rehashed: verify again next time, so the rehash is retried
		}
	}
	cache.Add(a.ID, password, a.PasswordHash)
	return a, nil
}
