package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/store"
)

var _ filter.TrainLog = (*DB)(nil)

// TrainedAs implements filter.TrainLog.
func (d *DB) TrainedAs(ctx context.Context, acct store.AccountRef, blob string) (bayes.Class, bool, error) {
	var c int
	err := d.rdb.QueryRowContext(ctx, `SELECT class FROM bayes_trained WHERE domain = $1 AND account = $2 AND blob = $3`,
		acct.Domain, acct.ID, blob).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, dbErr("trained", err)
	}
	return bayes.Class(c), true, nil
}

// SetTrained implements filter.TrainLog.
func (d *DB) SetTrained(ctx context.Context, acct store.AccountRef, blob string, class bayes.Class) error {
	_, err := d.wdb.ExecContext(ctx, `INSERT INTO bayes_trained (domain, account, blob, class, trained) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (domain, account, blob) DO UPDATE SET class = excluded.class, trained = excluded.trained`,
		acct.Domain, acct.ID, blob, int(class), d.now().Unix())
	return dbErr("set trained", err)
}
