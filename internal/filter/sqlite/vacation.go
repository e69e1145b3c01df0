package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"mailgrid/internal/store"
)

// MarkReplied implements filter.Vacations: the check and the record are one
// transaction, so two deliveries racing for one sender send one reply (RFC 5230 4.1).
func (d *DB) MarkReplied(ctx context.Context, acct store.AccountRef, sender, handle string, now time.Time, period time.Duration) (bool, error) {
	sender = strings.ToLower(sender)
	due := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO vacation_replies (domain, account, sender, handle, sent)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (domain, account, sender, handle) DO UPDATE SET sent = excluded.sent
			WHERE sent <= $6`,
			acct.Domain, acct.ID, sender, handle, now.Unix(), now.Add(-period).Unix())
		if err != nil {
			return dbErr("vacation", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return dbErr("vacation", err)
		}
		due = n > 0
		return nil
	})
	return due, err
}
