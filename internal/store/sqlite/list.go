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

// smallFilter is the largest filtered set read through its partial index and sorted (a
// variable for the tests, which force each path).
var smallFilter = 4000

// sortBatch is how many rows one fill job gives sort keys.
const sortBatch = 2000

// sortCol is the key column and index of each sort key: date and size in messages, the
// from and subject keys in sort_keys (schema version 5).
var sortCol = map[string][2]string{
	store.SortDate:    {"m.internal_date", "messages_by_date"},
	store.SortSize:    {"m.size", "messages_by_size"},
	store.SortFrom:    {"k.sender", "sort_keys_from"},
	store.SortSubject: {"k.subject", "sort_keys_subject"},
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
	rows, err := s.rquery(ctx, listSQL(q.Sort, q.Filter, cond, total, plan.Desc), int64(mbox), plan.Limit, plan.Offset)
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

// listSQL is the page query. The page's UIDs and keys come first, from the sort index
// alone where no filter applies (it holds the key and the UID: rows skipped by OFFSET are
// never read), then the page's rows by (mailbox, uid). CROSS JOIN keeps SQLite's loops
// in the order written.
func listSQL(sort, filter, cond string, total int, desc bool) string {
	col := sortCol[sort]
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	order := ` ORDER BY skey` + dir + `, uid` + dir // the subquery's output columns
	keyed := sort == store.SortFrom || sort == store.SortSubject
	var sub string
	switch {
	case cond != "" && total <= smallFilter:
		// The few passing rows through their partial index, sorted.
		index := map[string]string{store.FilterUnseen: "messages_unseen", store.FilterFlagged: "messages_flagged"}[filter]
		join := ""
		if keyed {
			join = ` CROSS JOIN sort_keys k`
			cond += ` AND k.mailbox = m.mailbox AND k.uid = m.uid`
		}
		sub = `SELECT m.uid AS uid, ` + col[0] + ` AS skey FROM messages m INDEXED BY ` + index + join +
			` WHERE m.mailbox = $1` + cond
	case keyed && cond != "":
		sub = `SELECT k.uid AS uid, ` + col[0] + ` AS skey FROM sort_keys k INDEXED BY ` + col[1] +
			` CROSS JOIN messages m WHERE k.mailbox = $1 AND m.mailbox = k.mailbox AND m.uid = k.uid` + cond
	case keyed:
		sub = `SELECT k.uid AS uid, ` + col[0] + ` AS skey FROM sort_keys k INDEXED BY ` + col[1] + ` WHERE k.mailbox = $1`
	default:
		sub = `SELECT m.uid AS uid, ` + col[0] + ` AS skey FROM messages m INDEXED BY ` + col[1] + ` WHERE m.mailbox = $1` + cond
	}
	return `SELECT ` + msgCols + ` FROM (` + sub + order + ` LIMIT $2 OFFSET $3) AS p
		CROSS JOIN messages m CROSS JOIN blobs b
		WHERE m.mailbox = $1 AND m.uid = p.uid AND b.id = m.blob ORDER BY p.skey` + dir + `, p.uid` + dir
}

// fillSortKeys gives the mailbox's sort_keys rows without keys their keys, sortBatch rows
// per commit. They are found through sort_keys_subject (NULL sorts first), so a mailbox
// with nothing to fill costs one index probe. Each round fills rows, so the
// loop ends; the bound is for safety.
func (s *Store) fillSortKeys(ctx context.Context, mbox int64) error {
	for range 1 << 12 {
		type keyed struct {
			uid  int64
			keys store.MessageKeys
		}
		rows, err := s.rquery(ctx, `SELECT k.uid, m.meta FROM sort_keys k INDEXED BY sort_keys_subject
			CROSS JOIN messages m WHERE k.mailbox = $1 AND k.subject IS NULL AND m.mailbox = k.mailbox AND m.uid = k.uid
			LIMIT $2`, mbox, sortBatch)
		if err != nil {
			return fmt.Errorf("list: sort keys: %w", err)
		}
		var todo []keyed
		for rows.Next() {
			var (
				k    keyed
				meta []byte
			)
			if err := rows.Scan(&k.uid, &meta); err != nil {
				return errors.Join(fmt.Errorf("list: sort keys: %w", err), rows.Close())
			}
			k.keys = store.KeysOf(meta)
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
				h := k.keys.Header
				if _, err := w.exec(`UPDATE sort_keys SET sender = $3, subject = $4,
					h_from = $5, h_to = $6, h_cc = $7, h_bcc = $8, h_subject = $9 WHERE mailbox = $1 AND uid = $2`,
					mbox, k.uid, k.keys.SortFrom, k.keys.SortSubject, h.From, h.To, h.Cc, h.Bcc, h.Subject); err != nil {
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
