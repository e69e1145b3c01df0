package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"mailgrid/internal/queue"
)

// Lease claims due items and returns them with their recipients, in one statement (see
// the package doc for why no item is ever leased twice).
func (q *Queue) Lease(ctx context.Context, node string, now time.Time, max int, leaseFor time.Duration) ([]queue.Item, error) {
	if node == "" {
		return nil, errors.New("queue: lease without a node name")
	}
	if max <= 0 {
		return nil, nil
	}
	rows, err := q.pool.Query(ctx, `WITH due AS (
			SELECT id FROM items
			WHERE next_attempt <= $3 AND (lease_owner = '' OR lease_until <= $3)
			ORDER BY next_attempt, queued
			LIMIT $4
			FOR NO KEY UPDATE SKIP LOCKED),
		i AS (
			UPDATE items SET lease_owner = $1, lease_until = $2, attempts = items.attempts + 1, last_attempt = $3
			FROM due WHERE items.id = due.id
			RETURNING items.*)
		SELECT `+itemRcptCols+` FROM i JOIN rcpts r ON r.item_id = i.id
		ORDER BY i.next_attempt, i.queued, i.seq, r.idx`,
		node, now.Add(leaseFor).UnixNano(), now.UnixNano(), max)
	if err != nil {
		return nil, fmt.Errorf("queue: lease: %w", err)
	}
	items, err := collectItems(rows)
	if err != nil {
		return nil, fmt.Errorf("queue: lease: %w", err)
	}
	return items, nil
}

// Recover drops the leases node holds.
func (q *Queue) Recover(ctx context.Context, node string) error {
	if _, err := q.pool.Exec(ctx, `UPDATE items SET lease_owner = '', lease_until = 0 WHERE lease_owner = $1`, node); err != nil {
		return fmt.Errorf("queue: recover %s: %w", node, err)
	}
	return nil
}

// Report records outcomes of recipients still queued; final states are never changed.
// The item and every address are checked first (nothing is recorded if one is unknown);
// the updates then run in one batch: one round trip, one implicit transaction, applied
// in the order given.
func (q *Queue) Report(ctx context.Context, id string, outcomes []queue.Outcome) error {
	addrs := make([]string, len(outcomes))
	for i, o := range outcomes {
		if o.State == "" {
			return fmt.Errorf("queue: outcome for %s without a state", o.Addr)
		}
		addrs[i] = o.Addr
	}
	var exists bool
	var unknown []string
	if err := q.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM items WHERE id = $1),
		array(SELECT a FROM unnest($2::text[]) a WHERE NOT EXISTS (SELECT 1 FROM rcpts WHERE item_id = $1 AND addr = a))`,
		id, addrs).Scan(&exists, &unknown); err != nil {
		return fmt.Errorf("queue: report %s: %w", id, err)
	}
	switch {
	case !exists:
		return queue.ErrNotFound
	case len(unknown) > 0:
		return fmt.Errorf("queue: item %s has no recipient %q", id, unknown[0])
	case len(outcomes) == 0:
		return nil
	}
	b := &pgx.Batch{}
	for _, o := range outcomes {
		b.Queue(`UPDATE rcpts SET state = $1, attempts = attempts + 1, last_attempt = $2, code = $3,
			enhanced = $4, reply_text = $5, remote_mta = $6, dsn_pending = $7
			WHERE item_id = $8 AND addr = $9 AND state = 'queued'`,
			string(o.State), ns(o.At), o.Reply.Code, o.Reply.Enhanced, o.Reply.Text, o.RemoteMTA, o.DSN, id, o.Addr)
	}
	if err := q.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue: report %s: %w", id, err)
	}
	return nil
}

// Notified clears pending DSNs and records the delay warning, in one batch.
func (q *Queue) Notified(ctx context.Context, id string, rcpts []string, delayWarned bool) error {
	b := &pgx.Batch{}
	var exists bool
	b.Queue(`SELECT EXISTS (SELECT 1 FROM items WHERE id = $1)`, id).QueryRow(func(row pgx.Row) error {
		return row.Scan(&exists)
	})
	if len(rcpts) > 0 {
		b.Queue(`UPDATE rcpts SET dsn_pending = false WHERE item_id = $1 AND addr = ANY($2)`, id, rcpts)
	}
	if delayWarned {
		b.Queue(`UPDATE items SET delay_warned = true WHERE id = $1`, id)
	}
	if err := q.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue: notified %s: %w", id, err)
	}
	if !exists {
		return queue.ErrNotFound
	}
	return nil
}

// Release ends node's lease in one batch (one round trip, one implicit transaction): the
// item is deleted (recipients and body by cascade) if node holds it and nothing is left
// to do; otherwise, if node holds it, it is made due at next (at once if Retry was
// called meanwhile). The last statement tells a lost lease from a missing item.
func (q *Queue) Release(ctx context.Context, id, node string, next time.Time) error {
	b := &pgx.Batch{}
	var deleted, released int64
	var owner *string
	b.Queue(`DELETE FROM items WHERE id = $1 AND lease_owner = $2
		AND NOT EXISTS (SELECT 1 FROM rcpts WHERE item_id = $1 AND (state = 'queued' OR dsn_pending))`,
		id, node).Exec(func(tag pgconn.CommandTag) error {
		deleted = tag.RowsAffected()
		return nil
	})
	b.Queue(`UPDATE items SET next_attempt = CASE WHEN retry_asked THEN 0 ELSE $3::bigint END,
		retry_asked = false, lease_owner = '', lease_until = 0 WHERE id = $1 AND lease_owner = $2`,
		id, node, ns(next)).Exec(func(tag pgconn.CommandTag) error {
		released = tag.RowsAffected()
		return nil
	})
	b.Queue(`SELECT lease_owner FROM items WHERE id = $1`, id).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			owner = new(string)
			if err := rows.Scan(owner); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err := q.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("queue: release %s: %w", id, err)
	}
	switch {
	case deleted+released > 0:
		return nil
	case owner == nil:
		return queue.ErrNotFound
	}
	return queue.ErrLeaseLost
}
