package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"mailgrid/internal/filter"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

// maxScriptName bounds a script name (RFC 5804 1.6 lets servers limit it).
const maxScriptName = 128

// CheckName applies RFC 5804 1.6: a script name is UTF-8 without control characters
// (and not empty).
func CheckName(name string) error {
	if name == "" || len(name) > maxScriptName || !utf8.ValidString(name) ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.ContainsRune(name, '\u2028') || strings.ContainsRune(name, '\u2029') {
		return fmt.Errorf("%w: script name %q", filter.ErrInvalid, name)
	}
	return nil
}

// PutScript implements filter.SieveScripts. The source is stored as given; callers
// compile it first (RFC 5804 2.6: PUTSCRIPT refuses invalid scripts).
func (s *Store) PutScript(ctx context.Context, acct store.AccountRef, name, source string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	_, err := s.W.Exec(ctx, `INSERT INTO sieve_scripts (domain, account, name, source, active, updated)
		VALUES ($1, $2, $3, $4, false, $5)
		ON CONFLICT (domain, account, name) DO UPDATE SET source = excluded.source, updated = excluded.updated`,
		acct.Domain, acct.ID, name, source, s.Now().Unix())
	return s.Err("put script", err)
}

// Script implements filter.SieveScripts.
func (s *Store) Script(ctx context.Context, acct store.AccountRef, name string) (string, error) {
	var src string
	err := s.R.QueryRow(ctx, `SELECT source FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name).Scan(&src)
	if errors.Is(err, sqlkit.ErrNoRows) {
		return "", filter.ErrNotFound
	}
	return src, s.Err("script", err)
}

// Scripts implements filter.SieveScripts.
func (s *Store) Scripts(ctx context.Context, acct store.AccountRef) ([]filter.ScriptInfo, error) {
	out, err := sqlkit.All(ctx, s.R, func(r sqlkit.Row) (filter.ScriptInfo, error) {
		var si filter.ScriptInfo
		return si, r.Scan(&si.Name, &si.Active)
	}, `SELECT name, active FROM sieve_scripts WHERE domain = $1 AND account = $2 ORDER BY name`, acct.Domain, acct.ID)
	return out, s.Err("scripts", err)
}

// ActiveScript implements filter.SieveScripts.
func (s *Store) ActiveScript(ctx context.Context, acct store.AccountRef) (string, string, error) {
	var name, src string
	err := s.R.QueryRow(ctx, `SELECT name, source FROM sieve_scripts WHERE domain = $1 AND account = $2 AND active = true`,
		acct.Domain, acct.ID).Scan(&name, &src)
	if errors.Is(err, sqlkit.ErrNoRows) {
		return "", "", filter.ErrNotFound
	}
	return name, src, s.Err("active script", err)
}

// scriptsTx runs fn in a transaction that first takes LockScripts, if any.
func (s *Store) scriptsTx(ctx context.Context, acct store.AccountRef, fn func(tx sqlkit.Conn) error) error {
	return s.W.Tx(ctx, func(tx sqlkit.Conn) error {
		if s.LockScripts != nil {
			if err := s.LockScripts(ctx, tx, acct); err != nil {
				return s.Err("lock scripts", err)
			}
		}
		return fn(tx)
	})
}

// SetActive implements filter.SieveScripts: the active script is switched in one
// transaction (at most one is active: a partial unique index).
func (s *Store) SetActive(ctx context.Context, acct store.AccountRef, name string) error {
	return s.scriptsTx(ctx, acct, func(tx sqlkit.Conn) error {
		if _, err := tx.Exec(ctx, `UPDATE sieve_scripts SET active = false WHERE domain = $1 AND account = $2 AND active = true`,
			acct.Domain, acct.ID); err != nil {
			return s.Err("set active", err)
		}
		if name == "" {
			return nil
		}
		n, err := tx.Exec(ctx, `UPDATE sieve_scripts SET active = true WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name)
		return s.OneRow(n, err, "set active")
	})
}

// DeleteScript implements filter.SieveScripts: the active script is refused
// (RFC 5804 2.10).
func (s *Store) DeleteScript(ctx context.Context, acct store.AccountRef, name string) error {
	return s.scriptsTx(ctx, acct, func(tx sqlkit.Conn) error {
		var active bool
		err := tx.QueryRow(ctx, `SELECT active FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name).Scan(&active)
		switch {
		case errors.Is(err, sqlkit.ErrNoRows):
			return filter.ErrNotFound
		case err != nil:
			return s.Err("delete script", err)
		case active:
			return filter.ErrActive
		}
		_, err = tx.Exec(ctx, `DELETE FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name)
		return s.Err("delete script", err)
	})
}
