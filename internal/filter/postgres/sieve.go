package postgres

import (
	"context"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sqlstore"
	"mailgrid/internal/pgkit"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

// lockScripts locks the account's scripts, so that changes of several rows (SETACTIVE,
// RENAMESCRIPT, DELETESCRIPT) from two nodes run one after the other.
func lockScripts(ctx context.Context, tx sqlkit.Conn, acct store.AccountRef) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM sieve_scripts WHERE domain = $1 AND account = $2 ORDER BY name FOR UPDATE`,
		acct.Domain, acct.ID)
	return err
}

// RenameScript implements filter.SieveScripts: a taken name is the unique index's
// violation, under the account's script lock.
func (d *DB) RenameScript(ctx context.Context, acct store.AccountRef, from, to string) error {
	if err := sqlstore.CheckName(to); err != nil {
		return err
	}
	return d.W.Tx(ctx, func(tx sqlkit.Conn) error {
		if err := lockScripts(ctx, tx, acct); err != nil {
			return dbErr("lock scripts", err)
		}
		n, err := tx.Exec(ctx, `UPDATE sieve_scripts SET name = $4, updated = $5 WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, from, to, d.now().Unix())
		if pgkit.IsUnique(err) {
			return filter.ErrExists
		}
		return d.OneRow(n, err, "rename script")
	})
}
