// Package pgnotify carries committed store changes between the nodes of a cluster over
// PostgreSQL LISTEN/NOTIFY on a shard database, and feeds them into the node's bus.Bus.
//
// # Model
//
// A store driver (internal/store/postgres) sends, inside every write transaction,
// pg_notify(Channel, payload) with the JSON of the transaction's store.Change events
// (Payloads). PostgreSQL delivers a notification only if its transaction commits, and
// delivers notifications of different transactions in commit order, to every session
// listening on the channel. A Listener holds one dedicated connection per shard database
// with LISTEN on Channel, decodes each payload (Decode) and calls bus.Publish, so IMAP
// IDLE and webmail sessions on every node see changes made on any node.
//
// Each payload names its origin: the store that committed it. A Listener skips the
// payloads of its own origin (Origin), which gives a node two ways to be wired:
//
//   - local+notify: the node's store publishes its own changes to the bus directly
//     (postgres Options.Publisher = the bus, Options.Origin = Listener.Origin()), and the
//     Listener adds the other nodes' changes. Own changes reach local sessions without a
//     trip through the database, but the bus is then fed by two streams, each in commit
//     order, interleaved as they come: a change committed on another node just before a
//     local one may arrive after it.
//   - notify-only: the store has no Publisher (and its own origin); the Listener
//     publishes every change of the shard, the node's own included. The bus then sees
//     one stream in commit order, the same on every node, at the cost of a notification
//     round trip for local changes. This is the wiring that keeps the bus's "commit
//     order" promise in a cluster.
//
// Either way every change reaches every node's bus once. Each Change carries its
// mailbox's ModSeq, so a session can always tell the order of two changes of a mailbox.
//
// NOTIFY has a cost the store pays: PostgreSQL serialises every transaction that
// notifies, server-wide, on one lock held until after its commit record is flushed
// (src/backend/commands/async.c, PreCommit_Notify), so notifying transactions do not
// share WAL flushes (group commit). See the postgres store's package doc for numbers.
//
// # Losing notifications and resync
//
// Notifications sent while a Listener is disconnected are lost: PostgreSQL queues them
// only for sessions listening at commit time. After a reconnect the Listener therefore
// signals a resync of every account (Resynced): sessions recompute their view from the
// store, exactly as after a bus.Subscription overflow. A transaction whose changes do not
// fit in a few dozen payloads of under 8000 bytes (PostgreSQL's limit) sends resync
// markers naming its accounts instead (AccountResynced). Both also go through the bus:
// Bus.ResyncAll after a reconnect and a store.AccountResync change per marked account,
// which mark the subscriptions overflowed and wake them.
//
// A connection that went silent (a half-open TCP connection) is found by a ping after
// an idle interval; reconnects back off exponentially up to a few seconds.
//
// # Library
//
// github.com/jackc/pgx/v5 (a pgx.Conn, not a pool: LISTEN is per session), the same
// driver as the store; its WaitForNotification leaves the connection usable when its
// context times out, which the idle ping relies on.
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/bus"
	"mailgrid/internal/store"
)

// Timing of the connection watch.
const (
	idleProbe   = 30 * time.Second // ping after this long without a notification
	pingTimeout = 10 * time.Second
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
)

// ApplicationName is the application_name of the listening session (pg_stat_activity).
const ApplicationName = "mailgrid-pgnotify"

// Listener feeds one shard database's notifications into a bus.
type Listener struct {
	cfg    *pgx.ConnConfig
	bus    *bus.Bus
	log    *slog.Logger
	origin string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	all      chan struct{}                      // closed at the next global resync
	accounts map[store.AccountRef]chan struct{} // closed at the next resync of an account
	closeErr error
}

// Listen connects to dsn, starts listening on Channel and returns once notifications are
// being received. The Listener runs until ctx is done or Close is called; it reconnects
// by itself when the connection drops. logger may be nil.
func Listen(ctx context.Context, dsn string, b *bus.Bus, logger *slog.Logger) (*Listener, error) {
	if b == nil {
		return nil, errors.New("pgnotify: nil bus")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: %w", err)
	}
	cfg.RuntimeParams["application_name"] = ApplicationName
	l := &Listener{cfg: cfg, bus: b, log: logger, origin: NewOrigin(), done: make(chan struct{}),
		all: make(chan struct{}), accounts: map[store.AccountRef]chan struct{}{}}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	run, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	go l.run(run, conn)
	return l, nil
}

// Origin is the id the node's store must put in its notifications (postgres
// Options.Origin) so that this Listener does not publish them a second time.
func (l *Listener) Origin() string { return l.origin }

// Close stops listening and closes the connection. It is safe to call more than once.
func (l *Listener) Close() error {
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closeErr
}

// Resynced returns a channel that is closed at the next resync of every account: after
// the Listener lost its connection and listens again. A session selects on it beside its
// bus.Subscription, recomputes its view from the store when it closes, and calls
// Resynced again for the next one.
func (l *Listener) Resynced() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all
}

// AccountResynced returns a channel closed at the next resync of acct: a global one, or
// a node reporting that acct's changes did not fit in notifications. The channel of an
// account is kept until it is closed (bounded by the accounts watched between resyncs).
func (l *Listener) AccountResynced(acct store.AccountRef) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.accounts[acct]
	if !ok {
		c = make(chan struct{})
		l.accounts[acct] = c
	}
	return c
}

func (l *Listener) resyncAll() {
	l.bus.ResyncAll() // every watching session recomputes its view
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.all)
	l.all = make(chan struct{})
	for a, c := range l.accounts {
		close(c)
		delete(l.accounts, a)
	}
}

func (l *Listener) resyncAccount(acct store.AccountRef) {
	l.bus.Publish(store.Change{Kind: store.AccountResync, Account: acct})
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.accounts[acct]; ok {
		close(c)
		delete(l.accounts, acct)
	}
}

// connect opens the listening connection.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return nil, errors.Join(fmt.Errorf("pgnotify: listen: %w", err), l.closeConn(conn))
	}
	return conn, nil
}

// closeConn closes conn and logs a failure; the error is returned for Close.
func (l *Listener) closeConn(conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	err := conn.Close(ctx)
	if err != nil {
		l.log.Warn("pgnotify: close connection", "err", err)
	}
	return err
}

// run receives until ctx ends, reconnecting when the connection fails.
func (l *Listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		err := l.receive(ctx, conn)
		closeErr := l.closeConn(conn)
		if ctx.Err() != nil {
			l.mu.Lock()
			l.closeErr = closeErr
			l.mu.Unlock()
			return
		}
		l.log.Warn("pgnotify: connection lost; reconnecting", "err", err)
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		l.log.Info("pgnotify: listening again; sessions resync")
		l.resyncAll()
	}
}

// receive publishes notifications until the connection fails or ctx ends. After an idle
// interval it pings, so a connection that silently died is noticed.
func (l *Listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wait, cancel := context.WithTimeout(ctx, idleProbe)
		n, err := conn.WaitForNotification(wait)
		idle := wait.Err() != nil
		cancel()
		switch {
		case err == nil:
			l.handle(n.Payload)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case idle && !conn.IsClosed():
			ping, cancel := context.WithTimeout(ctx, pingTimeout)
			err = conn.Ping(ping)
			cancel()
			if err == nil {
				continue
			}
		}
		return err
	}
}

// reconnect retries connect with jittered exponential backoff until it succeeds (the
// connection) or ctx ends (nil).
func (l *Listener) reconnect(ctx context.Context) *pgx.Conn {
	delay := minBackoff
	for {
		t := time.NewTimer(delay/2 + rand.N(delay)) // 0.5x .. 1.5x
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		l.log.Warn("pgnotify: reconnect failed", "err", err, "retry_in", delay)
		delay = min(2*delay, maxBackoff)
	}
}

// handle publishes one payload unless this node sent it.
func (l *Listener) handle(payload string) {
	n, err := Decode(payload)
	if err != nil {
		// Something on the channel we cannot read: sessions may have missed a change.
		l.log.Error("pgnotify: undecodable notification; resync", "err", err)
		l.resyncAll()
		return
	}
	if n.Origin == l.origin {
		return
	}
	if len(n.Changes) > 0 {
		l.bus.Publish(n.Changes...)
	}
	for _, a := range n.Resync {
		l.resyncAccount(a)
	}
}
