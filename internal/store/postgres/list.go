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

// sortCol is the column of each sort key.
var sortCol = map[string]string{
	store.SortDate:    "m.internal_date",
	store.SortSize:    "m.size",
	store.SortFrom:    "m.sort_from",
	store.SortSubject: "m.sort_subject",
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
	dir := " ASC"
	if plan.Desc {
		dir = " DESC"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+msgCols+` FROM messages m JOIN blobs b ON b.id = m.blob
		WHERE m.mailbox = $1`+cond+` ORDER BY `+sortCol[q.Sort]+dir+`, m.uid`+dir+` LIMIT $2 OFFSET $3`,
		int64(mbox), plan.Limit, plan.Offset)
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

// fillSortKeys gives the mailbox's rows without sort keys their keys, sortBatch rows per
// statement. The rows are found through messages_by_subject (its NULLs), so a mailbox with
// nothing to fill costs one index probe. Rows another transaction holds locked (a flag
// change, another filler) are skipped, never waited for: two fillers cannot deadlock, and
// a skipped row is filled by a later page. Each round fills rows or ends the loop.
func (s *Store) fillSortKeys(ctx context.Context, mbox int64) error {
	for range 1 << 12 {
		rows, err := s.pool.Query(ctx, `SELECT id, meta FROM messages
			WHERE mailbox = $1 AND sort_subject IS NULL LIMIT $2`, mbox, sortBatch)
		if err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		var ids []int64
		var froms, subjects []string
		for rows.Next() {
			var (
				id   int64
				meta []byte
			)
			if err := rows.Scan(&id, &meta); err != nil {
				rows.Close()
				return fmt.Errorf("list: sort keys: %w", err)
			}
			f, sub := store.SortKeys(meta)
			ids, froms, subjects = append(ids, id), append(froms, f), append(subjects, sub)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		tag, err := s.pool.Exec(ctx, `WITH k AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) AS k (id, f, s)),
			l AS (SELECT m.id FROM messages m JOIN k ON k.id = m.id WHERE m.sort_subject IS NULL
				ORDER BY m.id FOR UPDATE OF m SKIP LOCKED)
			UPDATE messages m SET sort_from = k.f, sort_subject = k.s FROM k JOIN l ON l.id = k.id WHERE m.id = k.id`,
			ids, froms, subjects)
		if err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		if len(ids) < sortBatch || tag.RowsAffected() == 0 {
			return nil
		}
	}
	return nil
}
