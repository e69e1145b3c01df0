package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"mailgrid/internal/bus/pgnotify"
	"mailgrid/internal/store"
)

// maxAttempts bounds how often a transaction is run when PostgreSQL aborts it for a
// deadlock or a serialization failure.
const maxAttempts = 5

// errRetry makes write run the transaction again (a race the transaction cannot settle
// by itself, e.g. a concurrent insert of the same blob).
var errRetry = errors.New("postgres store: retry")

// wtx is one attempt of a write transaction.
type wtx struct {
	ctx      context.Context
	tx       pgx.Tx
	origin   string
	changes  []store.Change // published after the commit
	notified bool           // the notifications were sent with the last batch
}

func (w *wtx) emit(c store.Change) { w.changes = append(w.changes, c) }

func (w *wtx) exec(q string, args ...any) (pgconn.CommandTag, error) {
	return w.tx.Exec(w.ctx, q, args...)
}

func (w *wtx) row(q string, args ...any) pgx.Row { return w.tx.QueryRow(w.ctx, q, args...) }

func (w *wtx) query(q string, args ...any) (pgx.Rows, error) { return w.tx.Query(w.ctx, q, args...) }

// finish sends b with the notifications of the changes emitted so far appended: the last
// statements of a transaction in one round trip. Emit nothing after finish.
func (w *wtx) finish(b *pgx.Batch) error {
	if err := w.queueNotify(b); err != nil {
		return err
	}
	w.notified = true
	return w.send(b)
}

// send runs a batch and checks every statement's result.
func (w *wtx) send(b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return w.tx.SendBatch(w.ctx, b).Close()
}

// queueNotify queues pg_notify for the changes (pgnotify: NOTIFY is delivered to the
// other nodes only if this transaction commits, and in commit order).
func (w *wtx) queueNotify(b *pgx.Batch) error {
	payloads, err := pgnotify.Payloads(w.origin, w.changes)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	for _, p := range payloads {
		b.Queue(`SELECT pg_notify($1, $2)`, pgnotify.Channel, p)
	}
	return nil
}

// write runs fn in a transaction and commits, running it again (up to maxAttempts) when
// PostgreSQL reports a deadlock or serialization failure. fn must reset what it reports
// to the caller at its start. After the commit the changes fn emitted are published in
// commit order.
func (s *Store) write(ctx context.Context, fn func(w *wtx) error) error {
	if err := s.live(); err != nil {
		return err
	}
	var err error
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := sleep(ctx, attempt); err != nil {
				return err
			}
		}
		err = s.attempt(ctx, fn)
		if !retryable(err) {
			return err
		}
		s.log.Debug("postgres store: transaction retried", "attempt", attempt+1, "err", err)
	}
	return fmt.Errorf("postgres store: gave up after %d attempts: %w", maxAttempts, err)
}

// attempt runs fn once in a transaction.
func (s *Store) attempt(ctx context.Context, fn func(w *wtx) error) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			err = errors.Join(err, rollback(tx))
		}
	}()
	w := &wtx{ctx: ctx, tx: tx, origin: s.origin}
	if err := fn(w); err != nil {
		return err
	}
	if !w.notified {
		b := &pgx.Batch{}
		if err := w.queueNotify(b); err != nil {
			return err
		}
		if err := w.send(b); err != nil {
			return fmt.Errorf("postgres store: notify: %w", err)
		}
	}
	// The ticket is taken while this transaction still holds its row locks, so a
	// transaction that waited for them gets a later ticket: publication follows commit
	// order wherever the order matters.
	var ticket uint64
	if len(w.changes) > 0 {
		ticket = s.seq.take()
	}
	// COMMIT is never abandoned halfway because the caller gave up: its outcome must be
	// known (a nil error means durable, synchronous_commit).
	err = tx.Commit(context.WithoutCancel(ctx))
	done = true
	if len(w.changes) > 0 {
		if err != nil {
			s.seq.done(ticket, nil)
		} else {
			s.seq.done(ticket, w.changes)
		}
	}
	if err != nil {
		return fmt.Errorf("postgres store: commit: %w", err)
	}
	return nil
}

// retryable reports a transaction failure worth running again.
func retryable(err error) bool {
	if errors.Is(err, errRetry) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

// sleep waits a short jittered time before attempt n (n >= 1).
func sleep(ctx context.Context, n int) error {
	d := time.Duration(n) * 5 * time.Millisecond
	t := time.NewTimer(d/2 + rand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isUniqueViolation reports a unique_violation (23505).
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
