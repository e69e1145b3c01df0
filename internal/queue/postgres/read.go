package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/mail"
	"mailgrid/internal/queue"
)

// itemRcptCols are the columns of an item (alias i) joined with one of its recipients
// (alias r); collectItems reads rows of them, ordered by item then recipient index.
const itemRcptCols = `i.id, i.env_from, i.env_id, i.ret, i.smtputf8, i.sender_domain, i.sender_id, i.size,
	i.queued, i.next_attempt, i.attempts, i.last_attempt, i.delay_warned, i.lease_owner, i.lease_until,
	r.addr, r.notify, r.orcpt, r.state, r.attempts, r.last_attempt, r.code, r.enhanced, r.reply_text,
	r.remote_mta, r.dsn_pending`

// collectItems groups rows of itemRcptCols into items, keeping their order, and closes rows.
func collectItems(rows pgx.Rows) ([]queue.Item, error) {
	defer rows.Close()
	var out []queue.Item
	for rows.Next() {
		var it queue.Item
		var r queue.RecipientStatus
		var queued, next, last, leaseUntil, rLast int64
		var notify, state string
		if err := rows.Scan(&it.ID, &it.Envelope.From, &it.Envelope.EnvID, &it.Envelope.Ret, &it.Envelope.SMTPUTF8,
			&it.Envelope.Sender.Domain, &it.Envelope.Sender.ID, &it.Size,
			&queued, &next, &it.Attempts, &last, &it.DelayWarned, &it.LeaseOwner, &leaseUntil,
			&r.Addr, &notify, &r.ORcpt, &state, &r.Attempts, &rLast, &r.LastReply.Code, &r.LastReply.Enhanced,
			&r.LastReply.Text, &r.RemoteMTA, &r.DSNPending); err != nil {
			return nil, err
		}
		if notify != "" {
			r.Notify = strings.Split(notify, ",")
		}
		r.State, r.LastAttempt = queue.State(state), fromNS(rLast)
		if len(out) == 0 || out[len(out)-1].ID != it.ID {
			it.Queued, it.NextAttempt, it.LastAttempt, it.LeaseUntil = fromNS(queued), fromNS(next), fromNS(last), fromNS(leaseUntil)
			out = append(out, it)
		}
		cur := &out[len(out)-1]
		cur.Recipients = append(cur.Recipients, r)
	}
	return out, rows.Err()
}

// Get returns one item with its recipients, read in one statement.
func (q *Queue) Get(ctx context.Context, id string) (queue.Item, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+itemRcptCols+` FROM items i JOIN rcpts r ON r.item_id = i.id
		WHERE i.id = $1 ORDER BY r.idx`, id)
	if err != nil {
		return queue.Item{}, fmt.Errorf("queue: get %s: %w", id, err)
	}
	items, err := collectItems(rows)
	switch {
	case err != nil:
		return queue.Item{}, fmt.Errorf("queue: get %s: %w", id, err)
	case len(items) == 0:
		return queue.Item{}, queue.ErrNotFound
	}
	return items[0], nil
}

// List returns the items matching f in enqueue order, read in one statement (one
// snapshot).
func (q *Queue) List(ctx context.Context, f queue.Filter) ([]queue.Item, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.RcptDomain != "" {
		dom, err := mail.ParseDomain(f.RcptDomain)
		if err != nil {
			dom = strings.ToLower(f.RcptDomain)
		}
		where = append(where, "id IN (SELECT item_id FROM rcpts WHERE domain = "+arg(dom)+")")
	}
	if f.From != "" {
		from := f.From
		if from == "<>" {
			from = ""
		}
		where = append(where, "env_from = "+arg(from))
	}
	sel := "SELECT * FROM items"
	if len(where) > 0 {
		sel += " WHERE " + strings.Join(where, " AND ")
	}
	var limit *int64 // NULL: no limit
	if f.Limit > 0 {
		limit = new(int64(f.Limit))
	}
	sel += " ORDER BY queued, seq LIMIT " + arg(limit) + "::bigint OFFSET " + arg(max(f.Offset, 0))
	rows, err := q.pool.Query(ctx, `WITH i AS (`+sel+`) SELECT `+itemRcptCols+`
		FROM i JOIN rcpts r ON r.item_id = i.id ORDER BY i.queued, i.seq, r.idx`, args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	items, err := collectItems(rows)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	return items, nil
}

// Retry makes an item due now, or as soon as its lease is released.
func (q *Queue) Retry(ctx context.Context, id string) error {
	tag, err := q.pool.Exec(ctx, `UPDATE items SET next_attempt = 0, retry_asked = (lease_owner <> '') WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("queue: retry %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return queue.ErrNotFound
	}
	return nil
}

// Drop removes an item with its recipients and body (one statement, by cascade).
func (q *Queue) Drop(ctx context.Context, id string) error {
	tag, err := q.pool.Exec(ctx, `DELETE FROM items WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("queue: drop %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return queue.ErrNotFound
	}
	return nil
}
