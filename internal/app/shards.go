package app

// The cluster shape's store.Shards. The shard registry in the directory is the only list
// of shards: a node opens a shard's database the first time something asks for it (a
// shard added with `mailgrid shard add` while nodes run needs no restart) and keeps it
// open. Each opened shard is a store/postgres pool plus a bus/pgnotify listener on the
// same database that feeds this node's bus, so an IMAP IDLE session here sees what any
// node committed. Refresh, run with every heartbeat, drops shards whose DSN changed (a
// failover to the promoted standby), that went offline or were removed: the next call
// opens the new DSN.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/bus/pgnotify"
	"mailgrid/internal/directory"
	dirpg "mailgrid/internal/directory/postgres"
	"mailgrid/internal/store"
	storepg "mailgrid/internal/store/postgres"
)

const (
	// shardOpenTimeout bounds looking a shard up and connecting to it.
	shardOpenTimeout = 15 * time.Second
	// shardRetryAfter is how long a failed open is answered from memory before the next
	// attempt, so a shard that is down is not hammered by every delivery and login.
	shardRetryAfter = time.Second
	// shardMaxConns bounds each node's pool per shard: nodes x shards x this must stay
	// well below the server's max_connections.
	shardMaxConns = 8
)

// errShardsClosed is returned by Shard after Close.
var errShardsClosed = errors.New("shards: closed")

// shardRegistry is the part of the directory the shards read.
type shardRegistry interface {
	Shard(ctx context.Context, name string) (dirpg.Shard, error)
	Shards(ctx context.Context) ([]dirpg.Shard, error)
}

// clusterShards opens registered shards on first use and caches them.
type clusterShards struct {
	reg       shardRegistry
	bus       *bus.Bus
	log       *slog.Logger
	noIndexer bool            // the stores run no background text indexer (Administration)
	ctx       context.Context // listeners run under it; cancelled by close
	cancel    context.CancelFunc

	mu     sync.Mutex
	m      map[string]*shardConn
	closed bool
	wg     sync.WaitGroup // opens in flight and retired shards being closed
}

// shardConn is one shard as this node has it open (or failed to).
type shardConn struct {
	ready  chan struct{} // closed when opening ended; the fields below are then fixed
	name   string
	dsn    string
	st     *storepg.Store
	l      *pgnotify.Listener
	stop   context.CancelFunc // ends the listener's context
	err    error
	failed time.Time
}

func newClusterShards(reg shardRegistry, b *bus.Bus, log *slog.Logger) *clusterShards {
	ctx, cancel := context.WithCancel(context.Background())
	return &clusterShards{reg: reg, bus: b, log: log, ctx: ctx, cancel: cancel, m: map[string]*shardConn{}}
}

// Shard returns the store of a registered shard, opening it on first use. An unknown
// shard is store.ErrNotFound; an offline or unreachable one another error (the delivery
// pipeline answers 4xx for both).
func (c *clusterShards) Shard(name string) (store.Store, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errShardsClosed
	}
	e := c.m[name]
	if e == nil || e.retryable(time.Now()) {
		e = &shardConn{ready: make(chan struct{}), name: name}
		c.m[name] = e
		c.wg.Add(1)
		c.mu.Unlock()
		c.open(e)
	} else {
		c.mu.Unlock()
	}
	<-e.ready
	if e.err != nil {
		return nil, e.err
	}
	return e.st, nil
}

// retryable reports whether e is a failed open old enough to try again.
func (e *shardConn) retryable(now time.Time) bool {
	select {
	case <-e.ready:
		return e.err != nil && now.Sub(e.failed) >= shardRetryAfter
	default:
		return false
	}
}

// open looks the shard up in the registry and connects to it; it closes e.ready.
func (c *clusterShards) open(e *shardConn) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, shardOpenTimeout)
	defer cancel()
	sh, err := c.reg.Shard(ctx, e.name)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		err = fmt.Errorf("shard %q is not registered: %w", e.name, store.ErrNotFound)
	case err != nil:
		err = fmt.Errorf("shard %q: %w", e.name, err)
	case sh.State == dirpg.ShardOffline:
		err = fmt.Errorf("shard %q is offline", e.name)
	default:
		e.dsn = sh.DSN
		err = c.connect(ctx, e)
	}
	if err != nil {
		e.err, e.failed = err, time.Now()
		c.log.Warn("shard unavailable", "shard", e.name, "err", err)
		close(e.ready)
		return
	}
	// Close sweeps only opened shards under mu, so deciding and publishing under mu
	// means every opened store is closed exactly once, by Close or here.
	c.mu.Lock()
	closed := c.closed
	if closed {
		e.err = errShardsClosed
	}
	close(e.ready)
	c.mu.Unlock()
	if closed {
		c.release(e)
		return
	}
	c.log.Info("shard opened", "shard", e.name)
}

// connect starts the shard's listener, then its store with the listener's origin, so the
// listener skips the notifications of this node's own commits (the store publishes those
// to the bus itself).
func (c *clusterShards) connect(ctx context.Context, e *shardConn) error {
	lctx, stop := context.WithCancel(c.ctx)
	type result struct {
		l   *pgnotify.Listener
		err error
	}
	done := make(chan result, 1)
	go func() { // Listen runs under lctx for good, so its connect is bounded here
		l, err := pgnotify.Listen(lctx, e.dsn, c.bus, c.log.With("shard", e.name))
		done <- result{l, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		stop()
		r = <-done
		if r.err == nil {
			c.closeListener(e.name, r.l)
			r.err = ctx.Err()
		}
	}
	if r.err != nil {
		stop()
		return fmt.Errorf("shard %q: listen: %w", e.name, r.err)
	}
	st, err := storepg.Open(ctx, storepg.Options{DSN: e.dsn, Publisher: c.bus, Origin: r.l.Origin(),
		MaxConns: shardMaxConns, Logger: c.log.With("shard", e.name), NoTextIndexer: c.noIndexer})
	if err != nil {
		c.closeListener(e.name, r.l)
		stop()
		return fmt.Errorf("shard %q: %w", e.name, err)
	}
	e.st, e.l, e.stop = st, r.l, stop
	return nil
}

func (c *clusterShards) closeListener(shard string, l *pgnotify.Listener) {
	if err := l.Close(); err != nil {
		c.log.Warn("shard listener close", "shard", shard, "err", err)
	}
}

// release closes an opened shard's store and listener.
func (c *clusterShards) release(e *shardConn) {
	if err := e.st.Close(); err != nil {
		c.log.Warn("shard close", "shard", e.name, "err", err)
	}
	c.closeListener(e.name, e.l)
	e.stop()
}

// Refresh re-reads the shard registry and drops every opened shard whose DSN changed,
// that went offline or was removed; the next Shard call opens it anew. The dropped
// stores are closed in the background (their sessions end with an error and reconnect).
func (c *clusterShards) Refresh(ctx context.Context) error {
	regs, err := c.reg.Shards(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]dirpg.Shard, len(regs))
	for _, r := range regs {
		byName[r.Name] = r
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	for name, e := range c.m {
		if !e.opened() {
			continue
		}
		r, ok := byName[name]
		if ok && r.DSN == e.dsn && r.State != dirpg.ShardOffline {
			continue
		}
		why := "removed from the registry"
		if ok && r.DSN != e.dsn {
			why = "DSN changed"
		} else if ok {
			why = "offline"
		}
		c.log.Info("shard reopens on next use", "shard", name, "reason", why)
		delete(c.m, name)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.release(e)
		}()
	}
	return nil
}

// opened reports whether e finished opening successfully.
func (e *shardConn) opened() bool {
	select {
	case <-e.ready:
		return e.err == nil
	default:
		return false
	}
}

// Close closes every opened shard and waits for opens in flight.
func (c *clusterShards) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var open []*shardConn
	for _, e := range c.m {
		if e.opened() {
			open = append(open, e)
		}
	}
	c.m = map[string]*shardConn{}
	c.mu.Unlock()
	for _, e := range open {
		c.release(e)
	}
	c.cancel()
	c.wg.Wait()
	return nil
}
