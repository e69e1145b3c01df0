package sqlite

import (
	"context"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sqlstore"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

// RenameScript implements filter.SieveScripts: a taken name is found by counting, in the
// transaction that renames (the one writer holds the database meanwhile).
func (d *DB) RenameScript(ctx context.Context, acct store.AccountRef, from, to string) error {
	if err := sqlstore.CheckName(to); err != nil {
		return err
	}
	return d.W.Tx(ctx, func(tx sqlkit.Conn) error {
		n, err := sqlkit.Value[int](tx.QueryRow(ctx, `SELECT count(*) FROM sieve_scripts WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, to))
		if err != nil {
			return dbErr("rename script", err)
		}
		if n > 0 {
			return filter.ErrExists
		}
		changed, err := tx.Exec(ctx, `UPDATE sieve_scripts SET name = $4 WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, from, to)
		return d.OneRow(changed, err, "rename script")
	})
}
