package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/filter"
	"mailgrid/internal/pgkit"
	"mailgrid/internal/store"
)

// maxScriptName bounds a script name (RFC 5804 1.6 lets servers limit it), as the
// SQLite driver does.
const maxScriptName = 128

// checkName applies RFC 5804 1.6: a script name is UTF-8 without control characters
// (and not empty).
func checkName(name string) error {
	if name == "" || len(name) > maxScriptName || !utf8.ValidString(name) ||
		strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.ContainsRune(name, '\u2028') || strings.ContainsRune(name, '\u2029') {
		return fmt.Errorf("%w: script name %q", filter.ErrInvalid, name)
	}
	return nil
}

// PutScript implements filter.SieveScripts. The source is stored as given; callers
// compile it first (RFC 5804 2.6: PUTSCRIPT refuses invalid scripts).
func (d *DB) PutScript(ctx context.Context, acct store.AccountRef, name, source string) error {
	if err := checkName(name); err != nil {
		return err
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO sieve_scripts (domain, account, name, source, active, updated)
		VALUES ($1, $2, $3, $4, false, $5)
		ON CONFLICT (domain, account, name) DO UPDATE SET source = excluded.source, updated = excluded.updated`,
		acct.Domain, acct.ID, name, source, d.now().Unix())
	return dbErr("put script", err)
}

// Script implements filter.SieveScripts.
func (d *DB) Script(ctx context.Context, acct store.AccountRef, name string) (string, error) {
	var src string
	err := d.pool.QueryRow(ctx, `SELECT source FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name).Scan(&src)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", filter.ErrNotFound
	}
	return src, dbErr("script", err)
}

// Scripts implements filter.SieveScripts.
func (d *DB) Scripts(ctx context.Context, acct store.AccountRef) ([]filter.ScriptInfo, error) {
	rows, err := d.pool.Query(ctx, `SELECT name, active FROM sieve_scripts WHERE domain = $1 AND account = $2 ORDER BY name`,
		acct.Domain, acct.ID)
	if err != nil {
		return nil, dbErr("scripts", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (filter.ScriptInfo, error) {
		var s filter.ScriptInfo
		return s, r.Scan(&s.Name, &s.Active)
	})
	return out, dbErr("scripts", err)
}

// ActiveScript implements filter.SieveScripts.
func (d *DB) ActiveScript(ctx context.Context, acct store.AccountRef) (string, string, error) {
	var name, src string
	err := d.pool.QueryRow(ctx, `SELECT name, source FROM sieve_scripts WHERE domain = $1 AND account = $2 AND active`,
		acct.Domain, acct.ID).Scan(&name, &src)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", filter.ErrNotFound
	}
	return name, src, dbErr("active script", err)
}

// lockScripts locks the account's scripts, so that changes of several rows (SETACTIVE,
// RENAMESCRIPT, DELETESCRIPT) from two nodes run one after the other.
func lockScripts(ctx context.Context, tx pgx.Tx, acct store.AccountRef) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM sieve_scripts WHERE domain = $1 AND account = $2 ORDER BY name FOR UPDATE`,
		acct.Domain, acct.ID)
	return dbErr("lock scripts", err)
}

// SetActive implements filter.SieveScripts.
func (d *DB) SetActive(ctx context.Context, acct store.AccountRef, name string) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		if err := lockScripts(ctx, tx, acct); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sieve_scripts SET active = false WHERE domain = $1 AND account = $2 AND active`,
			acct.Domain, acct.ID); err != nil {
			return dbErr("set active", err)
		}
		if name == "" {
			return nil
		}
		tag, err := tx.Exec(ctx, `UPDATE sieve_scripts SET active = true WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name)
		return oneRow(tag, err, "set active")
	})
}

// DeleteScript implements filter.SieveScripts.
func (d *DB) DeleteScript(ctx context.Context, acct store.AccountRef, name string) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		if err := lockScripts(ctx, tx, acct); err != nil {
			return err
		}
		var active bool
		err := tx.QueryRow(ctx, `SELECT active FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name).Scan(&active)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return filter.ErrNotFound
		case err != nil:
			return dbErr("delete script", err)
		case active:
			return filter.ErrActive
		}
		_, err = tx.Exec(ctx, `DELETE FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name)
		return dbErr("delete script", err)
	})
}

// RenameScript implements filter.SieveScripts.
func (d *DB) RenameScript(ctx context.Context, acct store.AccountRef, from, to string) error {
	if err := checkName(to); err != nil {
		return err
	}
	return d.tx(ctx, func(tx pgx.Tx) error {
		if err := lockScripts(ctx, tx, acct); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE sieve_scripts SET name = $4, updated = $5 WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, from, to, d.now().Unix())
		if pgkit.IsUnique(err) {
			return filter.ErrExists
		}
		return oneRow(tag, err, "rename script")
	})
}
