package sqlite

import (
	"context"
	"errors"

	"mailgrid/internal/store"
)

// Header search (store.HeaderSearcher) over the header text columns of sort_keys (schema
// version 7, store.KeysOf): one instr per row of the mailbox's UID range, in the
// (mailbox, uid) order of the table, no message row or Meta read. Rows from before
// version 7 (NULL) are filled from their Meta first, store.HeaderFillBatch per commit.
// The rounds are store.SearchHeaderRounds.

var _ store.HeaderSearcher = (*Store)(nil)

// SearchHeader implements store.HeaderSearcher.
func (s *Store) SearchHeader(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.HeaderQuery) (match, unsure []store.UID, err error) {
	d := store.HeaderSearchDriver{Rows: s.headerRows, Own: s.ownMailbox, Fill: s.fillHeaderText}
	return store.SearchHeaderRounds(ctx, d, acct, mbox, q)
}

// headerRows runs the search once.
func (s *Store) headerRows(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, scan store.HeaderScan) (store.HeaderRows, error) {
	col := scan.Col
	var r store.HeaderRows
	rows, err := s.rquery(ctx, `SELECT k.uid, CASE WHEN k.`+col+` IS NULL THEN 0 WHEN k.`+col+` = '' THEN 1 ELSE 2 END
		FROM mailboxes x JOIN sort_keys k ON k.mailbox = x.id
		WHERE x.id = $1 AND x.domain = $5 AND x.account = $6 AND k.uid >= $2 AND k.uid <= $3
		AND (k.`+col+` IS NULL OR k.`+col+` = '' OR (length(k.`+col+`) > 1 AND instr(k.`+col+`, $4) > 0))
		AND EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = k.mailbox AND m.uid = k.uid)
		ORDER BY k.uid`, int64(mbox), scan.Lo, scan.Hi, scan.Needle, acct.Domain, acct.ID)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var uid, state int64
		if err := rows.Scan(&uid, &state); err != nil {
			return r, errors.Join(err, rows.Close())
		}
		r.Add(uid, state)
	}
	return r, errors.Join(rows.Err(), rows.Close())
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
