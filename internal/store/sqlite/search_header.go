package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"

	"mailgrid/internal/store"
)

// Header search (store.HeaderSearcher) over the header text columns of sort_keys (schema
// version 7, store.KeysOf): one instr per row of the mailbox's UID range, in the
// (mailbox, uid) order of the table, no message row or Meta read. Rows from before
// version 7 (NULL) are filled from their Meta first, headerBatch per commit.

var _ store.HeaderSearcher = (*Store)(nil)

// headerCols maps a header search field to its column.
var headerCols = map[string]string{
	store.HeaderFrom:    "h_from",
	store.HeaderTo:      "h_to",
	store.HeaderCc:      "h_cc",
	store.HeaderBcc:     "h_bcc",
	store.HeaderSubject: "h_subject",
}

// headerBatch bounds the rows one fill commit writes.
const headerBatch = 1000

// Row states of a header search answer (1: no decodable Meta, unsure).
const (
	headerUnfilled = 0 // NULL: from before schema version 7
	headerMatch    = 2
)

// SearchHeader implements store.HeaderSearcher.
func (s *Store) SearchHeader(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.HeaderQuery) (match, unsure []store.UID, err error) {
	col, ok := headerCols[q.Field]
	if !ok || !store.HeaderIndexable(q.Needle) {
		return nil, nil, fmt.Errorf("search header: %q: %w", q.Field, store.ErrInvalid)
	}
	hi := int64(q.MaxUID)
	if q.MaxUID == 0 {
		hi = math.MaxUint32
	}
	needle := store.FoldHeaderNeedle(q.Needle)
	for round := 0; ; round++ {
		var unfilled bool
		match, unsure, unfilled, err = s.headerRows(ctx, col, acct, int64(mbox), int64(q.MinUID), hi, needle)
		if err == nil && len(match) == 0 && len(unsure) == 0 {
			// The query joins the owner: only an empty answer needs the check.
			return nil, nil, s.ownMailbox(ctx, acct, mbox)
		}
		if err != nil || !unfilled {
			return match, unsure, err
		}
		if round == 1 {
			return match, unsure, nil // still unfilled rows (written meanwhile): unsure
		}
		if err := s.fillHeaderText(ctx, int64(mbox)); err != nil {
			return nil, nil, err
		}
	}
}

// headerRows runs the search once; unfilled rows are reported unsure (and unfilled true).
func (s *Store) headerRows(ctx context.Context, col string, acct store.AccountRef, mbox, lo, hi int64, needle string) (match, unsure []store.UID, unfilled bool, err error) {
	rows, err := s.rquery(ctx, `SELECT k.uid, CASE WHEN k.`+col+` IS NULL THEN 0 WHEN k.`+col+` = '' THEN 1 ELSE 2 END
		FROM mailboxes x JOIN sort_keys k ON k.mailbox = x.id
		WHERE x.id = $1 AND x.domain = $5 AND x.account = $6 AND k.uid >= $2 AND k.uid <= $3
		AND (k.`+col+` IS NULL OR k.`+col+` = '' OR (length(k.`+col+`) > 1 AND instr(k.`+col+`, $4) > 0))
		AND EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = k.mailbox AND m.uid = k.uid)
		ORDER BY k.uid`, mbox, lo, hi, needle, acct.Domain, acct.ID)
	if err != nil {
		return nil, nil, false, fmt.Errorf("search header: %w", err)
	}
	for rows.Next() {
		var uid, state int64
		if err := rows.Scan(&uid, &state); err != nil {
			return nil, nil, false, errors.Join(fmt.Errorf("search header: %w", err), rows.Close())
		}
		switch state {
		case headerMatch:
			match = append(match, store.UID(uid))
		case headerUnfilled:
			unfilled = true
			fallthrough
		default:
			unsure = append(unsure, store.UID(uid))
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, false, fmt.Errorf("search header: %w", err)
	}
	return match, unsure, unfilled, nil
}

// fillHeaderText gives the mailbox's sort_keys rows without header text (NULL h_from)
// their text from the message's Meta, headerBatch rows per commit. Each round fills
// rows, so the loop ends; the bound is for safety.
func (s *Store) fillHeaderText(ctx context.Context, mbox int64) error {
	type filled struct {
		uid int64
		h   store.HeaderKeys
	}
	for range 1 << 12 {
		rows, err := s.rquery(ctx, `SELECT k.uid, m.meta FROM sort_keys k CROSS JOIN messages m
			WHERE k.mailbox = $1 AND k.h_from IS NULL AND m.mailbox = k.mailbox AND m.uid = k.uid LIMIT $2`,
			mbox, headerBatch)
		if err != nil {
			return fmt.Errorf("search header: fill: %w", err)
		}
		var todo []filled
		for rows.Next() {
			var (
				f    filled
				meta []byte
			)
			if err := rows.Scan(&f.uid, &meta); err != nil {
				return errors.Join(fmt.Errorf("search header: fill: %w", err), rows.Close())
			}
			f.h = store.KeysOf(meta).Header
			todo = append(todo, f)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("search header: fill: %w", err)
		}
		if len(todo) == 0 {
			return nil
		}
		_, err = s.c.do(ctx, func(w *wtx) error {
			for _, f := range todo {
				if _, err := w.exec(`UPDATE sort_keys SET h_from = $3, h_to = $4, h_cc = $5, h_bcc = $6, h_subject = $7
					WHERE mailbox = $1 AND uid = $2 AND h_from IS NULL`,
					mbox, f.uid, f.h.From, f.h.To, f.h.Cc, f.h.Bcc, f.h.Subject); err != nil {
					return err
				}
			}
			return nil
		}, nil)
		if err != nil {
			return fmt.Errorf("search header: fill: %w", err)
		}
		if len(todo) < headerBatch {
			return nil
		}
	}
	return nil
}
