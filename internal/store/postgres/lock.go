package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// Cross-node locks (store.MaildropLocker): a session-level advisory lock
// (pg_try_advisory_lock) of the shard database, so every node that opens the shard
// excludes the others. Session-level locks live as long as the database session that
// took them, so they cannot come from the pool, whose connections serve every call in
// turn. Each Store keeps ONE extra connection, outside the pool (so the pool's bound and
// Close are unaffected), and takes all of its node's locks on it: a node with a thousand
// POP3 sessions holds a thousand locks on one connection, not a thousand connections.
//
// PostgreSQL lets a session take a lock it already holds (locks stack), so the Store
// also keeps the keys it holds and refuses a second TryLock of one of them itself: one
// holder per key on the node, one node per key in the cluster.
//
// When the lock connection dies, PostgreSQL frees every lock it held and another node
// may take them. The Store notices on its next lock call, connects again and takes back
// the keys its holders still hold; a key another node took meanwhile is logged and its
// holder keeps running unprotected until it releases (the lock is advisory; see
// store.MaildropLocker).

// lockAppName is the lock connection's application_name, as pg_stat_activity shows it.
const lockAppName = "mailgrid-store-lock"

// lockTimeout bounds one lock round trip (connect, lock, unlock).
const lockTimeout = 10 * time.Second

var _ store.MaildropLocker = (*Store)(nil)

// locker is the Store's lock connection and the keys it holds. The zero value is ready:
// the connection is opened on first use.
type locker struct {
	mu     sync.Mutex
	conn   *pgx.Conn // nil until first use and after a fault
	held   map[int64]bool
	closed bool
}

// TryLock takes the advisory lock of (acct, name) in the shard database without waiting
// (store.MaildropLocker).
func (s *Store) TryLock(ctx context.Context, acct store.AccountRef, name string) (func(), error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	if err := validAccount(acct); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("lock name is empty: %w", store.ErrInvalid)
	}
	key := s.lockKey(acct, name)
	l := &s.locks
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.held[key] {
		return nil, store.ErrLocked
	}
	// A cancelled query makes pgx close the connection, which would free every lock of
	// the node: the round trip is bounded by lockTimeout, not by the caller.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockTimeout)
	defer cancel()
	got, err := s.tryLock(qctx, key)
	if err != nil {
		return nil, err
	}
	if !got {
		return nil, store.ErrLocked
	}
	if l.held == nil {
		l.held = map[int64]bool{}
	}
	l.held[key] = true
	var once sync.Once
	return func() { once.Do(func() { s.unlock(key) }) }, nil
}

// tryLock runs pg_try_advisory_lock on the lock connection. A connection that died
// since its last use (a server restart, a terminated backend) is only found dead by
// using it, so a failed attempt is tried once more on a new connection. Called with
// l.mu held.
func (s *Store) tryLock(ctx context.Context, key int64) (bool, error) {
	var err error
	for range 2 {
		if err = s.lockConn(ctx); err != nil {
			return false, err
		}
		var got bool
		if err = s.locks.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err == nil {
			return got, nil
		}
		s.dropLockConn("lock", err)
	}
	return false, fmt.Errorf("advisory lock: %w", err)
}

// unlock frees key. A connection that died has freed it already.
func (s *Store) unlock(key int64) {
	l := &s.locks
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, key)
	if l.closed || l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	var was bool
	if err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, key).Scan(&was); err != nil {
		// Closing the connection frees the key (and the node's other keys, which the
		// next lock call takes back).
		s.dropLockConn("unlock", err)
		return
	}
	if !was {
		s.log.Warn("advisory unlock: the lock was not held (lost when a lock connection died)", "key", key)
	}
}

// lockConn makes sure the lock connection is open, connecting again after a fault and
// taking back the keys the node's holders still hold. Called with l.mu held.
func (s *Store) lockConn(ctx context.Context) error {
	l := &s.locks
	if l.conn != nil && !l.conn.IsClosed() {
		return nil
	}
	l.conn = nil
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = lockAppName
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("lock connection: %w", err)
	}
	l.conn = c
	for key := range l.held {
		var got bool
		if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
			s.dropLockConn("retake", err)
			return fmt.Errorf("advisory lock: %w", err)
		}
		if !got {
			s.log.Error("advisory lock lost to another node while the lock connection was down", "key", key)
		}
	}
	return nil
}

// dropLockConn closes the lock connection after a fault (its locks are then free).
// Called with l.mu held.
func (s *Store) dropLockConn(what string, err error) {
	l := &s.locks
	s.log.Warn("lock connection fault: its locks are free until taken back", "op", what, "err", err)
	if l.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if cerr := l.conn.Close(ctx); cerr != nil { // the session ends either way
			s.log.Debug("lock connection close", "err", cerr)
		}
		l.conn = nil
	}
}

// closeLocks frees the node's locks and closes the lock connection, for Close.
func (s *Store) closeLocks() {
	l := &s.locks
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	// Unlock first: a closed connection's locks are freed only when its backend has
	// exited, a moment after Close returns.
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		s.log.Warn("advisory unlock all", "err", err)
	}
	if err := l.conn.Close(ctx); err != nil {
		s.log.Warn("lock connection close", "err", err)
	}
	l.conn = nil
}

// lockKey is the advisory lock key of (acct, name): 64 bits of sha256 over the shard's
// schema (several shards may share a database), the account and the name. A collision
// (about 2^-32 after 2^16 keys held at once) only makes a TryLock answer ErrLocked.
func (s *Store) lockKey(acct store.AccountRef, name string) int64 {
	h := sha256.New()
	for _, part := range []string{"mailgrid", s.pool.Config().ConnConfig.RuntimeParams["search_path"],
		acct.Domain, strconv.FormatInt(acct.ID, 10), name} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return int64(binary.BigEndian.Uint64(h.Sum(nil)))
}
