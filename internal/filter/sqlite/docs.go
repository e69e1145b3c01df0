package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

var _ filter.AccountDocs = (*DB)(nil)

// Doc implements filter.AccountDocs.
func (d *DB) Doc(ctx context.Context, acct store.AccountRef, name string) ([]byte, error) {
	var doc []byte
	err := d.rdb.QueryRowContext(ctx, `SELECT doc FROM account_docs WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, filter.ErrNotFound
	}
	return doc, dbErr("account document", err)
}

// PutDoc implements filter.AccountDocs.
func (d *DB) PutDoc(ctx context.Context, acct store.AccountRef, name string, doc []byte) error {
	if err := filter.CheckDoc(name, doc); err != nil {
		return err
	}
	if doc == nil {
		doc = []byte{}
	}
	_, err := d.wdb.ExecContext(ctx, `INSERT INTO account_docs (domain, account, name, doc, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (domain, account, name) DO UPDATE SET doc = excluded.doc, updated = excluded.updated`,
		acct.Domain, acct.ID, name, doc, d.now().Unix())
	return dbErr("put account document", err)
}

// DeleteDoc implements filter.AccountDocs.
func (d *DB) DeleteDoc(ctx context.Context, acct store.AccountRef, name string) error {
	_, err := d.wdb.ExecContext(ctx, `DELETE FROM account_docs WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name)
	return dbErr("delete account document", err)
}
