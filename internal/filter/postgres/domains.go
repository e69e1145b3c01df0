package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

var (
	_ filter.DomainDeleter  = (*DB)(nil)
	_ filter.AccountDeleter = (*DB)(nil)
)

// domainTables are the tables with a domain column besides the quarantine.
var domainTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "block_list", "domain_rules", "domain_switches", "account_docs"}

// accountTables are the tables with an account column besides the quarantine.
var accountTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "account_docs"}

// DeleteDomain implements filter.DomainDeleter in one transaction, the held bodies no
// other domain's copy references included.
func (d *DB) DeleteDomain(ctx context.Context, domain string) error {
	if domain == "" { // the empty domain is the system-wide block list and rules
		return fmt.Errorf("%w: delete domain: no domain named", filter.ErrInvalid)
	}
	return d.deleteWhere(ctx, "delete domain", domainTables, "domain = $1", domain)
}

// DeleteAccount implements filter.AccountDeleter in one transaction, the held bodies no
// other copy references included.
func (d *DB) DeleteAccount(ctx context.Context, acct store.AccountRef) error {
	if err := filter.CheckDeleteAccount(acct); err != nil {
		return err
	}
	return d.deleteWhere(ctx, "delete account", accountTables, "domain = $1 AND account = $2", acct.Domain, acct.ID)
}

// deleteWhere deletes the rows of tables, the quarantined copies that where selects and
// the held bodies no remaining copy references, in one transaction.
func (d *DB) deleteWhere(ctx context.Context, what string, tables []string, where string, args ...any) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		for _, table := range tables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+where, args...); err != nil {
				return dbErr(what+": "+table, err)
			}
		}
		rows, err := tx.Query(ctx, `DELETE FROM quarantine WHERE `+where+` RETURNING blob`, args...)
		if err != nil {
			return dbErr(what+": quarantine", err)
		}
		blobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbErr(what+": quarantine", err)
		}
		return dropUnused(ctx, tx, blobs)
	})
}
