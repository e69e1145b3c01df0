package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/store"
)

// SpamLevel implements filter.Settings: the account's level, else its domain's, else
// bayes.DefaultLevel.
func (d *DB) SpamLevel(ctx context.Context, acct store.AccountRef) (bayes.Level, error) {
	var lvl int
	err := d.rdb.QueryRowContext(ctx, `SELECT level FROM spam_levels WHERE domain = $1 AND account IN ($2, 0)
		ORDER BY account DESC LIMIT 1`, acct.Domain, acct.ID).Scan(&lvl)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return bayes.DefaultLevel, nil
	case err != nil:
		return 0, dbErr("spam level", err)
	}
	return bayes.Level(lvl), nil
}

// SetSpamLevel implements filter.Settings.
func (d *DB) SetSpamLevel(ctx context.Context, acct store.AccountRef, l *bayes.Level) error {
	return d.setLevel(ctx, acct.Domain, acct.ID, l)
}

// SetDomainSpamLevel implements filter.Settings.
func (d *DB) SetDomainSpamLevel(ctx context.Context, domain string, l *bayes.Level) error {
	return d.setLevel(ctx, domain, 0, l)
}

func (d *DB) setLevel(ctx context.Context, domain string, account int64, l *bayes.Level) error {
	if l == nil {
		_, err := d.wdb.ExecContext(ctx, `DELETE FROM spam_levels WHERE domain = $1 AND account = $2`, domain, account)
		return dbErr("spam level", err)
	}
	if _, err := l.MarshalText(); err != nil {
		return err
	}
	_, err := d.wdb.ExecContext(ctx, `INSERT INTO spam_levels (domain, account, level) VALUES ($1, $2, $3)
		ON CONFLICT (domain, account) DO UPDATE SET level = excluded.level`, domain, account, int(*l))
	return dbErr("spam level", err)
}
