package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"mailgrid/internal/store"
)

// Sorted pages (store.Lister) from the indexes of schema version 4. The total comes from
// the mailbox's counters (messages, unseen) or, for the flagged filter, from the partial
// index of flagged messages. A filtered set of at most smallFilter messages is read through
// its partial index and sorted in a temporary b-tree (bounded work); a larger one walks the
// sort index and skips the rows that do not pass: with more than smallFilter passing rows
// a page is found quickly unless they all sit at the far end. SQLite keeps no statistics
// here, so the index is chosen with INDEXED BY, not left to the planner.

var _ store.Lister = (*Store)(nil)

// smallFilter is the largest filtered set read through its partial index and sorted.
const smallFilter = 4000

// sortBatch is how many rows one fill job gives sort keys.
const sortBatch = 2000

// sortCol is the column and index of each sort key.
var sortCol = map[string][2]string{
	store.SortDate:    {"m.internal_date", "messages_by_date"},
	store.SortSize:    {"m.size", "messages_by_size"},
	store.SortFrom:    {"m.sort_from", "messages_by_from"},
	store.SortSubject: {"m.sort_subject", "messages_by_subject"},
}

// ListMessages implements store.Lister.
func (s *Store) ListMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.ListQuery) (store.ListPage, error) {
	if err := q.Valid(); err != nil {
		return store.ListPage{}, fmt.Errorf("list: %w", err)
	}
	if q.Sort == "" {
		q.Sort = store.SortDate
	}
	var count, unseen int
	err := s.rrow(ctx, `SELECT messages, unseen FROM mailboxes WHERE id = $1 AND domain = $2 AND account = $3`,
		int64(mbox), acct.Domain, acct.ID).Scan(&count, &unseen)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ListPage{}, fmt.Errorf("mailbox %d: %w", mbox, store.ErrNotFound)
	}
	if err != nil {
		return store.ListPage{}, fmt.Errorf("list: %w", err)
	}
	cond, total := "", count
	switch q.Filter {
	case store.FilterUnseen:
		cond, total = ` AND m.seen = 0`, unseen
	case store.FilterFlagged:
		cond = ` AND instr(m.flags, '\Flagged') > 0`
		err := s.rrow(ctx, `SELECT count(*) FROM messages m INDEXED BY messages_flagged WHERE m.mailbox = $1`+cond,
			int64(mbox)).Scan(&total)
		if err != nil {
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
	col := sortCol[q.Sort]
	index := col[1]
	if cond != "" && total <= smallFilter {
		index = map[string]string{store.FilterUnseen: "messages_unseen", store.FilterFlagged: "messages_flagged"}[q.Filter]
	}
	dir := " ASC"
	if plan.Desc {
		dir = " DESC"
	}
	rows, err := s.rquery(ctx, `SELECT `+msgCols+` FROM messages m INDEXED BY `+index+` JOIN blobs b ON b.id = m.blob
		WHERE m.mailbox = $1`+cond+` ORDER BY `+col[0]+dir+`, m.uid`+dir+` LIMIT $2 OFFSET $3`,
		int64(mbox), plan.Limit, plan.Offset)
	if err != nil {
		return page, fmt.Errorf("list: %w", err)
	}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return page, errors.Join(fmt.Errorf("list: %w", err), rows.Close())
		}
		page.Messages = append(page.Messages, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return page, fmt.Errorf("list: %w", err)
	}
	if plan.Reverse {
		slices.Reverse(page.Messages)
	}
	return page, nil
}

// fillSortKeys gives the mailbox's rows without sort keys their keys, sortBatch rows per
// commit. The rows without keys are found through messages_by_subject (NULL sorts first),
// so a mailbox with nothing to fill costs one index probe. Each round fills rows, so the
// loop ends; the bound is for safety.
func (s *Store) fillSortKeys(ctx context.Context, mbox int64) error {
	for range 1 << 12 {
		type keyed struct {
			id            int64
			from, subject string
		}
		rows, err := s.rquery(ctx, `SELECT id, meta FROM messages INDEXED BY messages_by_subject
			WHERE mailbox = $1 AND sort_subject IS NULL LIMIT $2`, mbox, sortBatch)
		if err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		var todo []keyed
		for rows.Next() {
			var (
				k    keyed
				meta []byte
			)
			if err := rows.Scan(&k.id, &meta); err != nil {
				return errors.Join(fmt.Errorf("list: sort keys: %w", err), rows.Close())
			}
			k.from, k.subject = store.SortKeys(meta)
			todo = append(todo, k)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		if len(todo) == 0 {
			return nil
		}
		_, err = s.c.do(ctx, func(w *wtx) error {
			for _, k := range todo {
				if _, err := w.exec(`UPDATE messages SET sort_from = $2, sort_subject = $3 WHERE id = $1`,
					k.id, k.from, k.subject); err != nil {
					return err
				}
			}
			return nil
		}, nil)
		if err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		if len(todo) < sortBatch {
			return nil
		}
	}
	return nil
}
