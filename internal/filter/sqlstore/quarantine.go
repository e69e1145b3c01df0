package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

const heldColumns = `id, domain, account, rcpt, sender, reason, mailet, size, created, blob`

// List implements filter.QuarantineStore (the rows; the bodies are the driver's).
func (s *Store) List(ctx context.Context, q filter.QuarantineQuery) ([]filter.Held, error) {
	where, args := []string{"1 = 1"}, []any{}
	if q.Domain != "" {
		args = append(args, q.Domain)
		where = append(where, "domain = $"+strconv.Itoa(len(args)))
	}
	if q.Account != 0 {
		args = append(args, q.Account)
		where = append(where, "account = $"+strconv.Itoa(len(args)))
	}
	limit := ""
	if q.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(q.Limit)
	}
	out, err := sqlkit.All(ctx, s.R, scanHeld, `SELECT `+heldColumns+` FROM quarantine WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC`+limit, args...)
	if err != nil {
		return nil, s.Err("quarantine list", err)
	}
	return out, nil
}

func scanHeld(r sqlkit.Row) (filter.Held, error) {
	var h filter.Held
	var rcpt, from string
	var created int64
	if err := r.Scan(&h.ID, &h.Domain, &h.Account, &rcpt, &from, &h.Reason, &h.Mailet, &h.Size, &created, &h.BlobID); err != nil {
		return h, err
	}
	h.Created = time.Unix(created, 0).UTC()
	h.Rcpt, _ = mail.Parse(rcpt) // written from a parsed address; "" stays zero
	h.From, _ = mail.Parse(from)
	return h, nil
}

// Get implements filter.QuarantineStore.
func (s *Store) Get(ctx context.Context, domain string, id int64) (filter.Held, error) {
	h, err := scanHeld(s.R.QueryRow(ctx, `SELECT `+heldColumns+` FROM quarantine WHERE domain = $1 AND id = $2`, domain, id))
	if errors.Is(err, sqlkit.ErrNoRows) {
		return h, filter.ErrNotFound
	}
	return h, s.Err("quarantine", err)
}

// domainTables are the tables with a domain column besides the quarantine.
var domainTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "block_list", "domain_rules", "domain_switches", "account_docs"}

// accountTables are the tables with an account column besides the quarantine.
var accountTables = []string{"spam_levels", "bayes_totals", "bayes_tokens", "bayes_trained", "sieve_scripts",
	"vacation_replies", "account_docs"}

// DeleteDomain implements filter.DomainDeleter: the domain's rows and quarantined copies
// in one transaction, and the held bodies no other domain's copy references.
func (s *Store) DeleteDomain(ctx context.Context, domain string) error {
	if domain == "" { // the empty domain is the system-wide block list and rules
		return fmt.Errorf("%w: delete domain: no domain named", filter.ErrInvalid)
	}
	return s.purge(ctx, "delete domain", domainTables, "domain = $1", domain)
}

// DeleteAccount implements filter.AccountDeleter: the account's rows and quarantined
// copies in one transaction, and the held bodies no other copy references.
func (s *Store) DeleteAccount(ctx context.Context, acct store.AccountRef) error {
	if err := filter.CheckDeleteAccount(acct); err != nil {
		return err
	}
	return s.purge(ctx, "delete account", accountTables, "domain = $1 AND account = $2", acct.Domain, acct.ID)
}

// purge deletes the rows of tables and the quarantined copies that where selects in one
// transaction, and hands the held bodies those copies named (once each) to DropInTx
// within it or to DropAfter after the commit.
func (s *Store) purge(ctx context.Context, what string, tables []string, where string, args ...any) error {
	var blobs []string
	err := s.W.Tx(ctx, func(tx sqlkit.Conn) error {
		for _, table := range tables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE `+where, args...); err != nil {
				return s.Err(what+": "+table, err)
			}
		}
		var err error
		blobs, err = sqlkit.All(ctx, tx, sqlkit.Value[string], `DELETE FROM quarantine WHERE `+where+` RETURNING blob`, args...)
		if err != nil {
			return s.Err(what+": quarantine", err)
		}
		blobs = unique(blobs)
		if s.DropInTx != nil {
			return s.DropInTx(ctx, tx, blobs)
		}
		return nil
	})
	if err == nil && s.DropAfter != nil {
		s.DropAfter(ctx, blobs)
	}
	return err
}

// unique drops the repeats from blobs, keeping the first of each.
func unique(blobs []string) []string {
	seen := map[string]bool{}
	out := blobs[:0]
	for _, b := range blobs {
		if !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}
