package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"mailgrid/internal/filter"
)

var _ filter.DomainDeleter = (*DB)(nil)

// domainTables are the tables with a domain column, the quarantine last.
var domainTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "block_list", "domain_rules", "domain_switches", "account_docs"}

// DeleteDomain implements filter.DomainDeleter: the rows in one transaction, then the
// held bodies no other domain's copy references.
func (d *DB) DeleteDomain(ctx context.Context, domain string) error {
	if domain == "" { // the empty domain is the system-wide block list and rules
		return fmt.Errorf("%w: delete domain: no domain named", filter.ErrInvalid)
	}
	var blobs []string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		for _, table := range domainTables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE domain = $1`, domain); err != nil {
				return dbErr("delete domain: "+table, err)
			}
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM quarantine WHERE domain = $1 RETURNING blob`, domain)
		if err != nil {
			return dbErr("delete domain: quarantine", err)
		}
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				return dbErr("delete domain: quarantine", closeRows(rows, err))
			}
			blobs = append(blobs, b)
		}
		return dbErr("delete domain: quarantine", closeRows(rows, rows.Err()))
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
