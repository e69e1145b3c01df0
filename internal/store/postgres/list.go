package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// Sorted pages (store.Lister) from the indexes of schema version 4. The total comes from
// the mailbox's counters (messages, unseen) or, for the flagged filter, from the partial
// index of flagged messages; the page is one query whose ORDER BY matches an index on
// (mailbox, key, uid), so PostgreSQL reads only the rows up to the page (or, with a
// selective filter and its statistics, the few passing rows through the partial index and
// sorts them).

var _ store.Lister = (*Store)(nil)

// sortBatch is how many rows one fill statement gives sort keys.
const sortBatch = 2000

// sortCol is the column of each sort key: date and size in messages, the from and
// subject keys in sort_keys (schema version 5).
var sortCol = map[string]string{
	store.SortDate:    "m.internal_date",
	store.SortSize:    "m.size",
	store.SortFrom:    "k.sender",
	store.SortSubject: "k.subject",
}

// ListMessages implements store.Lister.
func (s *Store) ListMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.ListQuery) (store.ListPage, error) {
	if err := q.Valid(); err != nil {
		return store.ListPage{}, fmt.Errorf("list: %w", err)
	}
	if err := s.live(); err != nil {
		return store.ListPage{}, err
	}
	if q.Sort == "" {
		q.Sort = store.SortDate
	}
	var count, unseen int
	err := s.pool.QueryRow(ctx, `SELECT messages, unseen FROM mailboxes WHERE id = $1 AND domain = $2 AND account = $3`,
		int64(mbox), acct.Domain, acct.ID).Scan(&count, &unseen)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ListPage{}, notFound("mailbox %d", mbox)
	}
	if err != nil {
		return store.ListPage{}, fmt.Errorf("list: %w", err)
	}
	cond, total := "", count
	switch q.Filter {
	case store.FilterUnseen:
		cond, total = ` AND NOT m.seen`, unseen
	case store.FilterFlagged:
		cond = ` AND '\Flagged' = ANY (m.flags)`
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM messages m WHERE m.mailbox = $1`+cond,
			int64(mbox)).Scan(&total); err != nil {
			return store.ListPage{}, fmt.Errorf("list: count: %w", err)
		}
	}
	if q.Sort == store.SortFrom || q.Sort == store.SortSubject {
		if err := s.fillSortKeys(ctx, int64(mbox)); err != nil {
			return store.ListPage{}, err
		}
	}
	plan := store.PlanList(q, total)
	page := store.ListPage{Total: total}
	if plan.Limit == 0 {
		return page, nil
	}
	rows, err := s.pool.Query(ctx, listSQL(q.Sort, cond, plan.Desc), int64(mbox), plan.Limit, plan.Offset)
	if err != nil {
		return page, fmt.Errorf("list: %w", err)
	}
	page.Messages, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) { return scanMessage(r) })
	if err != nil {
		return page, fmt.Errorf("list: %w", err)
	}
	if plan.Reverse {
		slices.Reverse(page.Messages)
	}
	return page, nil
}

// listSQL is the page query: the page's UIDs and keys first (from the sort index; an
// index-only scan where the visibility map allows, so rows skipped by OFFSET are not
// read), then the page's rows by (mailbox, uid).
func listSQL(sort, cond string, desc bool) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	sub := `SELECT m.uid AS uid, ` + sortCol[sort] + ` AS skey FROM messages m WHERE m.mailbox = $1` + cond
	if sort == store.SortFrom || sort == store.SortSubject {
		sub = `SELECT k.uid AS uid, ` + sortCol[sort] + ` AS skey FROM sort_keys k WHERE k.mailbox = $1`
		if cond != "" {
			sub = `SELECT k.uid AS uid, ` + sortCol[sort] + ` AS skey FROM sort_keys k
				JOIN messages m ON m.mailbox = k.mailbox AND m.uid = k.uid WHERE k.mailbox = $1` + cond
		}
	}
	return `SELECT ` + msgCols + ` FROM (` + sub + ` ORDER BY skey` + dir + `, uid` + dir + ` LIMIT $2 OFFSET $3) AS p
		JOIN messages m ON m.mailbox = $1 AND m.uid = p.uid JOIN blobs b ON b.id = m.blob
		ORDER BY p.skey` + dir + `, p.uid` + dir
}

// fillSortKeys gives the mailbox's sort_keys rows without keys their keys, sortBatch rows
// per statement. They are found through sort_keys_subject (its NULLs), so a mailbox with
// nothing to fill costs one index probe. Rows another transaction holds locked (a flag
// change, another filler) are skipped, never waited for: two fillers cannot deadlock, and
// a skipped row is filled by a later page. Each round fills rows or ends the loop.
func (s *Store) fillSortKeys(ctx context.Context, mbox int64) error {
	for range 1 << 12 {
		rows, err := s.pool.Query(ctx, `SELECT k.uid, m.meta FROM sort_keys k
			JOIN messages m ON m.mailbox = k.mailbox AND m.uid = k.uid
			WHERE k.mailbox = $1 AND k.subject IS NULL LIMIT $2`, mbox, sortBatch)
		if err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		var uids []int64
		var keys []store.MessageKeys
		for rows.Next() {
			var (
				uid  int64
				meta []byte
			)
			if err := rows.Scan(&uid, &meta); err != nil {
				rows.Close()
				return fmt.Errorf("list: sort keys: %w", err)
			}
			uids, keys = append(uids, uid), append(keys, store.KeysOf(meta))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		if len(uids) == 0 {
			return nil
		}
		froms, subjects, hf, ht, hc, hb, hs := keyColumns(keys)
		tag, err := s.pool.Exec(ctx, `WITH v AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[],
				$5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS v (uid, f, s, hf, ht, hc, hb, hs)),
			l AS (SELECT k.uid FROM sort_keys k JOIN v ON v.uid = k.uid WHERE k.mailbox = $1 AND k.subject IS NULL
				ORDER BY k.uid FOR UPDATE OF k SKIP LOCKED)
			UPDATE sort_keys k SET sender = v.f, subject = v.s,
				h_from = v.hf, h_to = v.ht, h_cc = v.hc, h_bcc = v.hb, h_subject = v.hs FROM v JOIN l ON l.uid = v.uid
			WHERE k.mailbox = $1 AND k.uid = v.uid`, mbox, uids, froms, subjects, hf, ht, hc, hb, hs)
		if err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		if len(uids) < sortBatch || tag.RowsAffected() == 0 {
			return nil
		}
	}
	return nil
}
