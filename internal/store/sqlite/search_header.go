package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"

	"mailgrid/internal/store"
)

// Header search (store.HeaderSearcher) over the header text columns of sort_keys (schema
// version 7, store.KeysOf): one instr per row of the mailbox's UID range, in the
// (mailbox, uid) order of the table, no message row or Meta read. Rows from before
// version 7 (NULL) are filled from their Meta first, store.HeaderFillBatch per commit.
// The rounds are store.SearchHeaderRounds.
//
// The answer is one row, not one per UID: the matching UIDs and the unsure ones, each
// aggregated by group_concat into a decimal list, and whether a row was unfilled. Every
// row a statement returns costs a step through database/sql and the driver, and a search
// of a mailbox of 250 messages that all match returned 250 of them.
//
// The query reads sort_keys alone: a sort_keys row exists only with its message. Every
// insert path writes the row just before the message in the same job (tx.go putSortKeys,
// copyMessages, import) and a failed insert fails the job, whose work is rolled back
// (commit.go); the trigger sort_keys_del removes the row with the message however it is
// deleted (expunge, move, mailbox delete and account purge delete the message rows), and
// sort_keys rows also go with their mailbox (ON DELETE CASCADE, foreign_keys on).
// TestSortKeysOnlyWithMessages holds every path to it. (A correlated EXISTS on messages
// per row was a B-tree seek per UID: 9% of the machine in make bench's IMAP mix.)

var _ store.HeaderSearcher = (*Store)(nil)

// SearchHeader implements store.HeaderSearcher.
func (s *Store) SearchHeader(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.HeaderQuery) (match, unsure []store.UID, err error) {
	d := store.HeaderSearchDriver{Rows: s.headerRows, Own: s.ownMailbox, Fill: s.fillHeaderText}
	return store.SearchHeaderRounds(ctx, d, acct, mbox, q)
}

// headerRows runs the search once. The rows of the UID range that may hold the needle
// are aggregated in one result row: the UIDs of the matches (text, store.HeaderRowMatch),
// those of the unsure rows (NULL text, HeaderRowUnfilled, or "", HeaderRowNoText: one
// list, as store.HeaderRows keeps them) and whether one was unfilled. No row of the range
// (or a mailbox not of acct: the join) gives NULLs, an empty answer.
func (s *Store) headerRows(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, scan store.HeaderScan) (store.HeaderRows, error) {
	col := scan.Col
	// The only text of one character is "\n" (a field without alternatives; the texts
	// are store.KeysOf's), in which instr finds no indexable needle but "": only that
	// needle needs the length test, which reads the whole text.
	short := ""
	if scan.Needle == "" {
		short = ` AND length(k.` + col + `) > 1`
	}
	var r store.HeaderRows
	rows, err := s.rquery(ctx, `SELECT group_concat(k.uid) FILTER (WHERE k.`+col+` <> ''),
		group_concat(k.uid) FILTER (WHERE k.`+col+` IS NULL OR k.`+col+` = ''), count(*) > count(k.`+col+`)
		FROM mailboxes x JOIN sort_keys k ON k.mailbox = x.id
		WHERE x.id = $1 AND x.domain = $5 AND x.account = $6 AND k.uid >= $2 AND k.uid <= $3
		AND (k.`+col+` IS NULL OR k.`+col+` = '' OR (instr(k.`+col+`, $4) > 0`+short+`))`,
		int64(mbox), scan.Lo, scan.Hi, scan.Needle, acct.Domain, acct.ID)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var match, unsure sql.RawBytes
		if err := rows.Scan(&match, &unsure, &r.Unfilled); err != nil {
			return r, errors.Join(err, rows.Close())
		}
		if r.Match, err = parseUIDList(match); err == nil {
			r.Unsure, err = parseUIDList(unsure)
		}
		if err != nil {
			return r, errors.Join(err, rows.Close())
		}
	}
	return r, errors.Join(rows.Err(), rows.Close())
}

// parseUIDList parses a group_concat of UIDs ("3,4,9"; empty for none) into an ascending
// list. The rows are aggregated in the order of the (mailbox, uid) scan, so the list is
// ascending already; it is sorted if not, as SQLite does not promise the order.
func parseUIDList(b []byte) ([]store.UID, error) {
	if len(b) == 0 {
		return nil, nil
	}
	out := make([]store.UID, 0, bytes.Count(b, []byte{','})+1)
	var (
		n      uint64
		digits int
		sorted = true
	)
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == ',' {
			if digits == 0 {
				return nil, fmt.Errorf("search header: UID list %.40q: empty item", b)
			}
			if k := len(out); k > 0 && store.UID(n) <= out[k-1] {
				sorted = false
			}
			out = append(out, store.UID(n))
			n, digits = 0, 0
			continue
		}
		c := b[i] - '0'
		if c > 9 || digits == 10 {
			return nil, fmt.Errorf("search header: UID list %.40q: not a UID at %d", b, i)
		}
		n = n*10 + uint64(c)
		digits++
		if n > math.MaxUint32 {
			return nil, fmt.Errorf("search header: UID list %.40q: not a UID at %d", b, i)
		}
	}
	if !sorted {
		slices.Sort(out)
	}
	return out, nil
}

// fillHeaderText gives the mailbox's sort_keys rows without header text (NULL h_from)
// their text from the message's Meta, store.HeaderFillBatch rows per commit. Each round
// fills rows, so the loop ends; the bound is for safety.
func (s *Store) fillHeaderText(ctx context.Context, mbox store.MailboxID) error {
	type filled struct {
		uid int64
		h   store.HeaderKeys
	}
	for range 1 << 12 {
		rows, err := s.rquery(ctx, `SELECT k.uid, m.meta FROM sort_keys k CROSS JOIN messages m
			WHERE k.mailbox = $1 AND k.h_from IS NULL AND m.mailbox = k.mailbox AND m.uid = k.uid LIMIT $2`,
			int64(mbox), store.HeaderFillBatch)
		if err != nil {
			return err
		}
		var todo []filled
		for rows.Next() {
			var (
				f    filled
				meta []byte
			)
			if err := rows.Scan(&f.uid, &meta); err != nil {
				return errors.Join(err, rows.Close())
			}
			f.h = store.KeysOf(meta).Header
			todo = append(todo, f)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil
		}
		_, err = s.c.do(ctx, func(w *wtx) error {
			for _, f := range todo {
				if _, err := w.exec(`UPDATE sort_keys SET h_from = $3, h_to = $4, h_cc = $5, h_bcc = $6, h_subject = $7
					WHERE mailbox = $1 AND uid = $2 AND h_from IS NULL`,
					int64(mbox), f.uid, f.h.From, f.h.To, f.h.Cc, f.h.Bcc, f.h.Subject); err != nil {
					return err
				}
			}
			return nil
		}, nil)
		if err != nil {
			return err
		}
		if len(todo) < store.HeaderFillBatch {
			return nil
		}
	}
	return nil
}
