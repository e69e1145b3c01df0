package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/filter"
)

var _ filter.DomainDeleter = (*DB)(nil)

// domainTables are the tables with a domain column besides the quarantine.
var domainTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "block_list", "domain_rules", "domain_switches", "account_docs"}

// DeleteDomain implements filter.DomainDeleter in one transaction, the held bodies no
// other domain's copy references included.
func (d *DB) DeleteDomain(ctx context.Context, domain string) error {
	if domain == "" { // the empty domain is the system-wide block list and rules
		return fmt.Errorf("%w: delete domain: no domain named", filter.ErrInvalid)
	}
	return d.tx(ctx, func(tx pgx.Tx) error {
		for _, table := range domainTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE domain = $1`, domain); err != nil {
				return dbErr("delete domain: "+table, err)
			}
		}
		rows, err := tx.Query(ctx, `DELETE FROM quarantine WHERE domain = $1 RETURNING blob`, domain)
		if err != nil {
			return dbErr("delete domain: quarantine", err)
		}
		blobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbErr("delete domain: quarantine", err)
		}
		return dropUnused(ctx, tx, blobs)
	})
}
