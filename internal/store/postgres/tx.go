package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/bus/pgnotify"
	"mailgrid/internal/store"
)

// maxAttempts bounds how often a transaction is run when PostgreSQL aborts it for a
// deadlock or a serialization failure.
const maxAttempts = 5

// errRetry makes write run the transaction again (a race the transaction cannot settle
// by itself, e.g. a concurrent insert of the same blob).
var errRetry = errors.New("postgres store: retry")

// wtx is one attempt of a write transaction on a pooled connection. The transaction is
// driven by hand rather than through pgx.Tx so that BEGIN travels with the first
// statements and COMMIT with the last ones: most transactions are two or three round
// trips in all.
type wtx struct {
	ctx     context.Context
	conn    *pgxpool.Conn
	origin  string
	seq     *sequencer
	changes []store.Change // published after the commit

	begun     bool   // BEGIN was sent
	finished  bool   // finish ran: COMMIT was sent
	committed bool   // and succeeded
	ticket    uint64 // publication ticket, taken by finish if there are changes
}

func (w *wtx) emit(c store.Change) { w.changes = append(w.changes, c) }

// begin sends BEGIN unless a statement already did.
func (w *wtx) begin() error {
	if w.begun {
		return nil
	}
	if _, err := w.conn.Exec(w.ctx, `BEGIN`); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	w.begun = true
	return nil
}

func (w *wtx) exec(q string, args ...any) (pgconn.CommandTag, error) {
	if err := w.begin(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return w.conn.Exec(w.ctx, q, args...)
}

func (w *wtx) row(q string, args ...any) pgx.Row {
	if err := w.begin(); err != nil {
		return errRow{err}
	}
	return w.conn.QueryRow(w.ctx, q, args...)
}

func (w *wtx) query(q string, args ...any) (pgx.Rows, error) {
	if err := w.begin(); err != nil {
		return nil, err
	}
	return w.conn.Query(w.ctx, q, args...)
}

func (w *wtx) copyFrom(table string, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := w.begin(); err != nil {
		return 0, err
	}
	return w.conn.CopyFrom(w.ctx, pgx.Identifier{table}, cols, src)
}

// errRow is a pgx.Row that failed before it was sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// send runs a batch (with BEGIN in front if the transaction has not begun) and checks
// every statement's result.
func (w *wtx) send(b *pgx.Batch) error {
	return w.sendCtx(w.ctx, b)
}

func (w *wtx) sendCtx(ctx context.Context, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	if !w.begun {
		first := &pgx.Batch{}
		first.Queue(`BEGIN`)
		first.QueuedQueries = append(first.QueuedQueries, b.QueuedQueries...)
		b, w.begun = first, true
	}
	return w.conn.SendBatch(ctx, b).Close()
}

// finish ends the transaction: it sends b, the notifications of the changes emitted so
// far (pgnotify: delivered to the other nodes only if this transaction commits, in
// commit order) and COMMIT, in one round trip. Emit nothing after finish.
//
// The publication ticket is taken while the transaction still holds its row locks, so
// a transaction that waited for them gets a later ticket: publication follows commit
// order wherever the order matters. The batch is sent without the caller's
// cancellation: a COMMIT abandoned halfway would leave its outcome unknown, and a nil
// error must mean durable (synchronous_commit).
func (w *wtx) finish(b *pgx.Batch) error {
	payloads, err := pgnotify.Payloads(w.origin, w.changes)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	for _, p := range payloads {
		b.Queue(`SELECT pg_notify($1, $2)`, pgnotify.Channel, p)
	}
	if !w.begun && b.Len() == 0 {
		w.finished = true // nothing was read or written: nothing to commit
		return nil
	}
	b.Queue(`COMMIT`).Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return fmt.Errorf("commit: server answered %q", tag.String())
		}
		w.committed = true
		return nil
	})
	w.finished = true
	if len(w.changes) > 0 {
		w.ticket = w.seq.take()
	}
	if err := w.sendCtx(context.WithoutCancel(w.ctx), b); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// write runs fn in a transaction and commits, running it again (up to maxAttempts) when
// PostgreSQL reports a deadlock or serialization failure. fn must reset what it reports
// to the caller at its start, and may end the transaction itself with w.finish (to send
// its last statements with the COMMIT). After the commit the changes fn emitted are
// published in commit order.
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
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: %w", err)
	}
	w := &wtx{ctx: ctx, conn: conn, origin: s.origin, seq: s.seq}
	err = fn(w)
	if err == nil && !w.finished {
		err = w.finish(&pgx.Batch{})
	}
	if w.begun && !w.committed {
		// ROLLBACK outside a transaction only warns; a failure leaves the connection
		// in a transaction, and Release then discards it.
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			s.log.Warn("postgres store: rollback", "err", rerr)
		}
	}
	conn.Release() // before publishing: the Publisher may read the store
	if len(w.changes) > 0 && w.finished {
		if w.committed {
			s.seq.done(w.ticket, w.changes)
		} else {
			s.seq.done(w.ticket, nil)
		}
	}
	return err
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
