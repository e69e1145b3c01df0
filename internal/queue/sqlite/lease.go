package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"mailgrid/internal/queue"
)

// Lease claims due items in one UPDATE … RETURNING and loads them in the same
// transaction.
func (q *Queue) Lease(ctx context.Context, node string, now time.Time, max int, leaseFor time.Duration) (items []queue.Item, err error) {
	if node == "" {
		return nil, errors.New("queue: lease without a node name")
	}
	if max <= 0 {
		return nil, nil
	}
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { err = finish(tx, err) }()
	rows, err := tx.QueryContext(ctx, `UPDATE items
		SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, last_attempt = $3
		WHERE id IN (SELECT id FROM items
			WHERE next_attempt <= $3 AND (lease_owner = '' OR lease_until <= $3)
			ORDER BY next_attempt, queued LIMIT $4)
		RETURNING id`, node, now.Add(leaseFor).UnixNano(), now.UnixNano(), max)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	items = make([]queue.Item, 0, len(ids))
	for _, id := range ids {
		it, err := loadItem(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b queue.Item) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return a.Queued.Compare(b.Queued)
	})
	return items, nil
}

// finish commits tx when err is nil and rolls it back otherwise.
func finish(tx *sql.Tx, err error) error {
	if err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// Recover drops the leases node holds.
func (q *Queue) Recover(ctx context.Context, node string) error {
	_, err := q.w.ExecContext(ctx, `UPDATE items SET lease_owner = '', lease_until = 0 WHERE lease_owner = $1`, node)
	return err
}

// Report records outcomes of recipients still queued; final states are never changed.
func (q *Queue) Report(ctx context.Context, id string, outcomes []queue.Outcome) (err error) {
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { err = finish(tx, err) }()
	if err := itemExists(ctx, tx, id); err != nil {
		return err
	}
	for _, o := range outcomes {
		if o.State == "" {
			return fmt.Errorf("queue: outcome for %s without a state", o.Addr)
		}
		res, err := tx.ExecContext(ctx, `UPDATE rcpts SET state = $1, attempts = attempts + 1, last_attempt = $2,
			code = $3, enhanced = $4, reply_text = $5, remote_mta = $6, dsn_pending = $7
			WHERE item_id = $8 AND addr = $9 AND state = $10`,
			string(o.State), ns(o.At), o.Reply.Code, o.Reply.Enhanced, o.Reply.Text, o.RemoteMTA, o.DSN,
			id, o.Addr, string(queue.StateQueued))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if err := rcptExists(ctx, tx, id, o.Addr); err != nil {
				return err
			}
		}
	}
	return nil
}

// Notified clears pending DSNs and records the delay warning.
func (q *Queue) Notified(ctx context.Context, id string, rcpts []string, delayWarned bool) (err error) {
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { err = finish(tx, err) }()
	if err := itemExists(ctx, tx, id); err != nil {
		return err
	}
	for _, addr := range rcpts {
		if _, err := tx.ExecContext(ctx, `UPDATE rcpts SET dsn_pending = 0 WHERE item_id = $1 AND addr = $2`, id, addr); err != nil {
			return err
		}
	}
	if delayWarned {
		_, err = tx.ExecContext(ctx, `UPDATE items SET delay_warned = 1 WHERE id = $1`, id)
	}
	return err
}

// Release ends the lease, removing the item if nothing is left to do.
func (q *Queue) Release(ctx context.Context, id, node string, next time.Time) error {
	done, err := q.release(ctx, id, node, next)
	if err != nil || !done {
		return err
	}
	// The row is gone; a failed unlink leaves an orphan that Open sweeps.
	if err := q.removeBody(id); err != nil {
		return fmt.Errorf("queue: item %s done, body not removed: %w", id, err)
	}
	return nil
}

func (q *Queue) release(ctx context.Context, id, node string, next time.Time) (done bool, err error) {
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { err = finish(tx, err) }()
	var owner string
	err = tx.QueryRowContext(ctx, `SELECT lease_owner FROM items WHERE id = $1`, id).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return false, queue.ErrNotFound
	} else if err != nil {
		return false, err
	}
	if owner != node {
		return false, queue.ErrLeaseLost
	}
	var left int
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM rcpts WHERE item_id = $1 AND (state = $2 OR dsn_pending)`,
		id, string(queue.StateQueued)).Scan(&left)
	if err != nil {
		return false, err
	}
	if left == 0 {
		return true, deleteItem(ctx, tx, id)
	}
	_, err = tx.ExecContext(ctx, `UPDATE items SET next_attempt = CASE WHEN retry_asked THEN 0 ELSE $1 END,
		retry_asked = 0, lease_owner = '', lease_until = 0 WHERE id = $2`, ns(next), id)
	return false, err
}

func deleteItem(ctx context.Context, tx *sql.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM rcpts WHERE item_id = $1`, id); err != nil {
		return err
	}
	return execOne(ctx, tx, `DELETE FROM items WHERE id = $1`, id)
}

func itemExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM items WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return queue.ErrNotFound
	}
	return err
}

func rcptExists(ctx context.Context, tx *sql.Tx, id, addr string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM rcpts WHERE item_id = $1 AND addr = $2`, id, addr).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("queue: item %s has no recipient %q", id, addr)
	}
	return err
}
