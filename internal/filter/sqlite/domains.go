package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

var (
	_ filter.DomainDeleter  = (*DB)(nil)
	_ filter.AccountDeleter = (*DB)(nil)
)

// domainTables are the tables with a domain column, the quarantine last.
var domainTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "block_list", "domain_rules", "domain_switches", "account_docs"}

// accountTables are the tables with an account column besides the quarantine.
var accountTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "account_docs"}

// DeleteDomain implements filter.DomainDeleter: the rows in one transaction, then the
// held bodies no other domain's copy references.
func (d *DB) DeleteDomain(ctx context.Context, domain string) error {
	if domain == "" { // the empty domain is the system-wide block list and rules
		return fmt.Errorf("%w: delete domain: no domain named", filter.ErrInvalid)
	}
	return d.deleteWhere(ctx, "delete domain", domainTables, "domain = $1", domain)
}

// DeleteAccount implements filter.AccountDeleter: the rows in one transaction, then the
// held bodies no other copy references.
func (d *DB) DeleteAccount(ctx context.Context, acct store.AccountRef) error {
	if err := filter.CheckDeleteAccount(acct); err != nil {
		return err
	}
	return d.deleteWhere(ctx, "delete account", accountTables, "domain = $1 AND account = $2", acct.Domain, acct.ID)
}

// deleteWhere deletes the rows of tables and the quarantined copies that where selects
// in one transaction, then the held bodies no remaining copy references.
func (d *DB) deleteWhere(ctx context.Context, what string, tables []string, where string, args ...any) error {
	var blobs []string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		for _, table := range tables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+where, args...); err != nil {
				return dbErr(what+": "+table, err)
			}
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM quarantine WHERE `+where+` RETURNING blob`, args...)
		if err != nil {
			return dbErr(what+": quarantine", err)
		}
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				return dbErr(what+": quarantine", closeRows(rows, err))
			}
			blobs = append(blobs, b)
		}
		return dbErr(what+": quarantine", closeRows(rows, rows.Err()))
	})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, b := range blobs {
		if !seen[b] {
			seen[b] = true
			d.dropBlobIfUnused(ctx, b)
		}
	}
	return nil
}

// closeRows closes rows and joins its error to err.
func closeRows(rows *sql.Rows, err error) error {
	if cerr := rows.Close(); err == nil {
		return cerr
	}
	return err
}
