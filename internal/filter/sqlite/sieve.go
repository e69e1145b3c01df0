package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

// maxScriptName bounds a script name (RFC 5804 1.6 lets servers limit it).
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
	_, err := d.wdb.ExecContext(ctx, `INSERT INTO sieve_scripts (domain, account, name, source, active, updated)
		VALUES ($1, $2, $3, $4, 0, $5)
		ON CONFLICT (domain, account, name) DO UPDATE SET source = excluded.source, updated = excluded.updated`,
		acct.Domain, acct.ID, name, source, d.now().Unix())
	return dbErr("put script", err)
}

// Script implements filter.SieveScripts.
func (d *DB) Script(ctx context.Context, acct store.AccountRef, name string) (string, error) {
	var src string
	err := d.rdb.QueryRowContext(ctx, `SELECT source FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name).Scan(&src)
	if errors.Is(err, sql.ErrNoRows) {
		return "", filter.ErrNotFound
	}
	return src, dbErr("script", err)
}

// Scripts implements filter.SieveScripts.
func (d *DB) Scripts(ctx context.Context, acct store.AccountRef) ([]filter.ScriptInfo, error) {
	rows, err := d.rdb.QueryContext(ctx, `SELECT name, active FROM sieve_scripts WHERE domain = $1 AND account = $2 ORDER BY name`,
		acct.Domain, acct.ID)
	if err != nil {
		return nil, dbErr("scripts", err)
	}
	defer func() {
		if err := rows.Close(); err != nil {
			d.log.Warn("filter/sqlite: close rows", "err", err)
		}
	}()
	var out []filter.ScriptInfo
	for rows.Next() {
		var s filter.ScriptInfo
		if err := rows.Scan(&s.Name, &s.Active); err != nil {
			return nil, dbErr("scripts", err)
		}
		out = append(out, s)
	}
	return out, dbErr("scripts", rows.Err())
}

// ActiveScript implements filter.SieveScripts.
func (d *DB) ActiveScript(ctx context.Context, acct store.AccountRef) (string, string, error) {
	var name, src string
	err := d.rdb.QueryRowContext(ctx, `SELECT name, source FROM sieve_scripts WHERE domain = $1 AND account = $2 AND active = 1`,
		acct.Domain, acct.ID).Scan(&name, &src)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", filter.ErrNotFound
	}
	return name, src, dbErr("active script", err)
}

// SetActive implements filter.SieveScripts.
func (d *DB) SetActive(ctx context.Context, acct store.AccountRef, name string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = 0 WHERE domain = $1 AND account = $2 AND active = 1`,
			acct.Domain, acct.ID); err != nil {
			return dbErr("set active", err)
		}
		if name == "" {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = 1 WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name)
		return oneRow(res, err, "set active")
	})
}

// DeleteScript implements filter.SieveScripts.
func (d *DB) DeleteScript(ctx context.Context, acct store.AccountRef, name string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		var active bool
		err := tx.QueryRowContext(ctx, `SELECT active FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name).Scan(&active)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return filter.ErrNotFound
		case err != nil:
			return dbErr("delete script", err)
		case active:
			return filter.ErrActive
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, name)
		return dbErr("delete script", err)
	})
}

// RenameScript implements filter.SieveScripts.
func (d *DB) RenameScript(ctx context.Context, acct store.AccountRef, from, to string) error {
	if err := checkName(to); err != nil {
		return err
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, to).Scan(&n); err != nil {
			return dbErr("rename script", err)
		}
		if n > 0 {
			return filter.ErrExists
		}
		res, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET name = $4 WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, from, to)
		return oneRow(res, err, "rename script")
	})
}

// oneRow turns an UPDATE of no row into filter.ErrNotFound.
func oneRow(res sql.Result, err error, what string) error {
	if err != nil {
		return dbErr(what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr(what, err)
	}
	if n == 0 {
		return filter.ErrNotFound
	}
	return nil
}
