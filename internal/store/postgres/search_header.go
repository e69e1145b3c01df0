package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// Header search (store.HeaderSearcher) over the header text columns of sort_keys (schema
// version 8, store.KeysOf): one strpos per row of the mailbox's UID range, through the
// (mailbox, uid) primary key, no message row or Meta read. Rows from before version 8
// (NULL) are filled from their Meta first, store.HeaderFillBatch per statement, skipping
// rows another transaction holds locked (as fillSortKeys): those stay unsure for this
// search. The rounds are store.SearchHeaderRounds.

var _ store.HeaderSearcher = (*Store)(nil)

// SearchHeader implements store.HeaderSearcher.
func (s *Store) SearchHeader(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.HeaderQuery) (match, unsure []store.UID, err error) {
	d := store.HeaderSearchDriver{Rows: s.headerRows, Own: s.ownMailbox, Fill: s.fillHeaderText}
	return store.SearchHeaderRounds(ctx, d, acct, mbox, q)
}

// headerRows runs the search once. The rows of the UID range that may hold the needle
// are aggregated in one result row (one row to decode, not one per UID): the UIDs of the
// matches (text, store.HeaderRowMatch), those of the unsure rows (NULL text,
// HeaderRowUnfilled, or "", HeaderRowNoText: one list, as store.HeaderRows keeps them),
// each an ascending array, and whether one was unfilled. No row of the range (or a
// mailbox not of acct) gives empty arrays, an empty answer. The owner is checked by an
// uncorrelated EXISTS, which PostgreSQL evaluates once (a one-time filter): as a join,
// on fresh statistics, the planner looked the mailbox up once per sort_keys row. Rows
// are checked against messages (EXISTS, a semi-join): the SQLite driver's proof that no
// path leaves a sort_keys row without its message is not made for this driver's paths.
func (s *Store) headerRows(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, scan store.HeaderScan) (store.HeaderRows, error) {
	col := scan.Col
	var (
		r             store.HeaderRows
		match, unsure []int64
	)
	err := s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(k.uid ORDER BY k.uid) FILTER (WHERE k.`+col+` <> ''), '{}'),
		coalesce(array_agg(k.uid ORDER BY k.uid) FILTER (WHERE k.`+col+` IS NULL OR k.`+col+` = ''), '{}'),
		count(*) > count(k.`+col+`)
		FROM sort_keys k
		WHERE k.mailbox = $1 AND k.uid >= $2 AND k.uid <= $3
		AND EXISTS (SELECT 1 FROM mailboxes x WHERE x.id = $1 AND x.domain = $5 AND x.account = $6)
		AND (k.`+col+` IS NULL OR k.`+col+` = '' OR (strpos(k.`+col+`, $4) > 0 AND length(k.`+col+`) > 1))
		AND EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = k.mailbox AND m.uid = k.uid)`,
		int64(mbox), scan.Lo, scan.Hi, scan.Needle, acct.Domain, acct.ID).Scan(&match, &unsure, &r.Unfilled)
	if err != nil {
		return r, err
	}
	r.Match, r.Unsure = uidList(match), uidList(unsure)
	return r, nil
}

// uidList converts an array of UIDs read from the database (nil for none).
func uidList(l []int64) []store.UID {
	if len(l) == 0 {
		return nil
	}
	out := make([]store.UID, len(l))
	for i, u := range l {
		out[i] = store.UID(u)
	}
	return out
}

// fillHeaderText gives the mailbox's sort_keys rows without header text (NULL h_from)
// their text from the message's Meta, store.HeaderFillBatch rows per statement. Each
// round fills rows or ends the loop.
func (s *Store) fillHeaderText(ctx context.Context, mbox store.MailboxID) error {
	for range 1 << 12 {
		rows, err := s.pool.Query(ctx, `SELECT k.uid, m.meta FROM sort_keys k
			JOIN messages m ON m.mailbox = k.mailbox AND m.uid = k.uid
			WHERE k.mailbox = $1 AND k.h_from IS NULL LIMIT $2`, int64(mbox), store.HeaderFillBatch)
		if err != nil {
			return err
		}
		var uids []int64
		var keys []store.MessageKeys
		var (
			uid  int64
			meta []byte
		)
		_, err = pgx.ForEachRow(rows, []any{&uid, &meta}, func() error {
			uids, keys = append(uids, uid), append(keys, store.KeysOf(meta))
			return nil
		})
		if err != nil {
			return err
		}
		if len(uids) == 0 {
			return nil
		}
		_, _, hf, ht, hc, hb, hs := keyColumns(keys)
		tag, err := s.pool.Exec(ctx, `WITH v AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[],
				$5::text[], $6::text[], $7::text[]) AS v (uid, hf, ht, hc, hb, hs)),
			l AS (SELECT k.uid FROM sort_keys k JOIN v ON v.uid = k.uid WHERE k.mailbox = $1 AND k.h_from IS NULL
				ORDER BY k.uid FOR UPDATE OF k SKIP LOCKED)
			UPDATE sort_keys k SET h_from = v.hf, h_to = v.ht, h_cc = v.hc, h_bcc = v.hb, h_subject = v.hs
			FROM v JOIN l ON l.uid = v.uid WHERE k.mailbox = $1 AND k.uid = v.uid`, int64(mbox), uids, hf, ht, hc, hb, hs)
		if err != nil {
			return err
		}
		if len(uids) < store.HeaderFillBatch || tag.RowsAffected() == 0 {
			return nil
		}
	}
	return nil
}

// keyColumns splits keys into the column arrays of a sort_keys insert or update.
func keyColumns(keys []store.MessageKeys) (from, subject, hFrom, hTo, hCc, hBcc, hSubject []string) {
	n := len(keys)
	from, subject = make([]string, n), make([]string, n)
	hFrom, hTo, hCc, hBcc, hSubject = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, k := range keys {
		from[i], subject[i] = k.SortFrom, k.SortSubject
		h := k.Header
		hFrom[i], hTo[i], hCc[i], hBcc[i], hSubject[i] = h.From, h.To, h.Cc, h.Bcc, h.Subject
	}
	return from, subject, hFrom, hTo, hCc, hBcc, hSubject
}
