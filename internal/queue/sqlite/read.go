package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// Get returns one item with its recipients.
func (q *Queue) Get(ctx context.Context, id string) (it queue.Item, err error) {
	tx, err := q.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return queue.Item{}, err
	}
	defer func() { err = errors.Join(err, tx.Rollback()) }()
	return loadItem(ctx, tx, id)
}

// List returns the items matching f in enqueue order, read in one snapshot.
func (q *Queue) List(ctx context.Context, f queue.Filter) (items []queue.Item, err error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.RcptDomain != "" {
		where = append(where, "id IN (SELECT item_id FROM rcpts WHERE domain = "+arg(strings.ToLower(f.RcptDomain))+")")
	}
	if f.From != "" {
		from := f.From
		if from == "<>" {
			from = ""
		}
		where = append(where, "env_from = "+arg(from))
	}
	query := "SELECT id FROM items"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	limit := -1 // SQLite: no limit
	if f.Limit > 0 {
		limit = f.Limit
	}
	query += " ORDER BY queued, rowid LIMIT " + arg(limit) + " OFFSET " + arg(max(f.Offset, 0))

	tx, err := q.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, tx.Rollback()) }()
	ids, err := scanStrings(tx.QueryContext(ctx, query, args...))
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		it, err := loadItem(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func scanStrings(rows *sql.Rows, err error) (out []string, _ error) {
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		out = append(out, s)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// loadItem reads an item and its recipients.
func loadItem(ctx context.Context, db querier, id string) (queue.Item, error) {
	var it queue.Item
	var queued, next, last, leaseUntil int64
	err := db.QueryRowContext(ctx, `SELECT id, env_from, env_id, ret, smtputf8, sender_domain, sender_id, size,
		queued, next_attempt, attempts, last_attempt, delay_warned, lease_owner, lease_until
		FROM items WHERE id = $1`, id).Scan(&it.ID, &it.Envelope.From, &it.Envelope.EnvID, &it.Envelope.Ret,
		&it.Envelope.SMTPUTF8, &it.Envelope.Sender.Domain, &it.Envelope.Sender.ID, &it.Size,
		&queued, &next, &it.Attempts, &last, &it.DelayWarned, &it.LeaseOwner, &leaseUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return queue.Item{}, queue.ErrNotFound
	} else if err != nil {
		return queue.Item{}, err
	}
	it.Queued, it.NextAttempt, it.LastAttempt, it.LeaseUntil = fromNS(queued), fromNS(next), fromNS(last), fromNS(leaseUntil)
	it.Recipients, err = loadRcpts(ctx, db, id)
	return it, err
}

func loadRcpts(ctx context.Context, db querier, id string) ([]queue.RecipientStatus, error) {
	rows, err := db.QueryContext(ctx, `SELECT addr, notify, orcpt, state, attempts, last_attempt,
		code, enhanced, reply_text, remote_mta, dsn_pending
		FROM rcpts WHERE item_id = $1 ORDER BY idx`, id)
	if err != nil {
		return nil, err
	}
	var out []queue.RecipientStatus
	for rows.Next() {
		var r queue.RecipientStatus
		var notify, state string
		var last int64
		if err := rows.Scan(&r.Addr, &notify, &r.ORcpt, &state, &r.Attempts, &last,
			&r.LastReply.Code, &r.LastReply.Enhanced, &r.LastReply.Text, &r.RemoteMTA, &r.DSNPending); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		if notify != "" {
			r.Notify = strings.Split(notify, ",")
		}
		r.State, r.LastAttempt = queue.State(state), fromNS(last)
		out = append(out, r)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// OpenBody opens an item's body file.
func (q *Queue) OpenBody(ctx context.Context, id string) (store.Blob, error) {
	var one int
	err := q.r.QueryRowContext(ctx, `SELECT 1 FROM items WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, queue.ErrNotFound
	} else if err != nil {
		return nil, err
	}
	f, err := os.Open(q.bodyPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("queue: body of %s missing: %w", id, queue.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return blob{f, st.Size()}, nil
}

type blob struct {
	*os.File
	size int64
}

func (b blob) Size() int64 { return b.size }

// Retry makes an item due now, or as soon as its lease is released.
func (q *Queue) Retry(ctx context.Context, id string) error {
	return execOne(ctx, q.w, `UPDATE items SET next_attempt = 0,
		retry_asked = (lease_owner != '') WHERE id = $1`, id)
}

// Drop removes an item and its body.
func (q *Queue) Drop(ctx context.Context, id string) (err error) {
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := deleteItem(ctx, tx, id); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return q.removeBody(id)
}
