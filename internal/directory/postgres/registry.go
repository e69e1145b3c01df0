package postgres

// The shard registry: the store shards of the cluster, which placement chooses from. It is
// in the directory because placement (accounts.shard) must be checked against it in the
// same transaction; nodes never list shards in their own configuration.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// ShardState is what a shard is doing.
type ShardState string

const (
	// ShardActive serves its accounts and takes new ones.
	ShardActive ShardState = "active"
	// ShardDraining serves its accounts and takes no new ones (users are being moved off).
	ShardDraining ShardState = "draining"
	// ShardOffline takes no new accounts and should not be served from (failover, repair).
	ShardOffline ShardState = "offline"
)

// Valid reports whether s is a known state.
func (s ShardState) Valid() bool {
	return s == ShardActive || s == ShardDraining || s == ShardOffline
}

// MaxShardName bounds a shard name (it appears in CLI output, logs and metrics labels).
const MaxShardName = 63

// ErrShardNotEmpty is returned by RemoveShard while accounts are placed on the shard.
var ErrShardNotEmpty = errors.New("shard still holds accounts")

// Shard is one registered store shard.
type Shard struct {
	Name      string // [a-z0-9][a-z0-9_-]*, at most MaxShardName
	DSN       string // how nodes reach the shard's database (may hold credentials)
	Capacity  int64  // accounts placement may put on it; 0 = unlimited
	State     ShardState
	CreatedAt time.Time
	Users     int64 // accounts placed on it now (filled by reads, ignored by AddShard)
}

// ShardUpdate changes a shard; nil fields are left alone. A new DSN is how an operator
// points a shard at its promoted standby after a failover.
type ShardUpdate struct {
	DSN      *string
	Capacity *int64
	State    *ShardState
}

func checkShardName(name string) error {
	if name == "" || len(name) > MaxShardName {
		return fmt.Errorf("%w: shard name %q: 1 to %d characters", directory.ErrInvalid, name, MaxShardName)
	}
	for i, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_') {
			continue
		}
		return fmt.Errorf("%w: shard name %q: lower-case letters, digits, - and _", directory.ErrInvalid, name)
	}
	return nil
}

func checkShardFields(dsn string, capacity int64, state ShardState) error {
	switch {
	case dsn == "":
		return fmt.Errorf("%w: shard without a DSN", directory.ErrInvalid)
	case capacity < 0:
		return fmt.Errorf("%w: negative shard capacity", directory.ErrInvalid)
	case !state.Valid():
		return fmt.Errorf("%w: shard state %q", directory.ErrInvalid, state)
	}
	return nil
}

const shardSelect = `SELECT s.name, s.dsn, s.capacity, s.state, s.created_at,
	(SELECT count(*) FROM accounts a WHERE a.shard = s.name) FROM shards s`

func scanShard(row pgx.Row) (Shard, error) {
	var s Shard
	var state string
	err := row.Scan(&s.Name, &s.DSN, &s.Capacity, &state, &s.CreatedAt, &s.Users)
	s.State, s.CreatedAt = ShardState(state), s.CreatedAt.UTC()
	return s, err
}

// AddShard registers a shard; State "" means ShardActive. ErrExists if the name is taken.
func (d *Directory) AddShard(ctx context.Context, s Shard) (Shard, error) {
	if s.State == "" {
		s.State = ShardActive
	}
	if err := checkShardName(s.Name); err != nil {
		return Shard{}, err
	}
	if err := checkShardFields(s.DSN, s.Capacity, s.State); err != nil {
		return Shard{}, err
	}
	tag, err := d.pool.Exec(ctx, `INSERT INTO shards (name, dsn, capacity, state, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`, s.Name, s.DSN, s.Capacity, string(s.State), d.now())
	if err != nil {
		return Shard{}, fmt.Errorf("postgres directory: add shard %q: %w", s.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return Shard{}, fmt.Errorf("%w: shard %q", directory.ErrExists, s.Name)
	}
	return d.Shard(ctx, s.Name)
}

// Shard returns one shard with its account count. ErrNotFound if not registered.
func (d *Directory) Shard(ctx context.Context, name string) (Shard, error) {
	return getShard(ctx, d.pool, name)
}

func getShard(ctx context.Context, q querier, name string) (Shard, error) {
	s, err := scanShard(q.QueryRow(ctx, shardSelect+` WHERE s.name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("shard " + name)
	}
	if err != nil {
		return s, fmt.Errorf("postgres directory: shard %q: %w", name, err)
	}
	return s, nil
}

// Shards lists the registered shards by name, with their account counts.
func (d *Directory) Shards(ctx context.Context) ([]Shard, error) {
	rows, err := d.pool.Query(ctx, shardSelect+` ORDER BY s.name`)
	var out []Shard
	if err == nil {
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Shard, error) { return scanShard(r) })
	}
	if err != nil {
		return nil, fmt.Errorf("postgres directory: shards: %w", err)
	}
	return out, nil
}

// UpdateShard applies u to a registered shard and returns it. Lowering the capacity below
// the current count only stops placement; nobody is moved.
func (d *Directory) UpdateShard(ctx context.Context, name string, u ShardUpdate) (Shard, error) {
	var s Shard
	err := d.write(ctx, func(tx pgx.Tx) error {
		if err := lockShard(ctx, tx, name); err != nil {
			return err
		}
		cur, err := getShard(ctx, tx, name)
		if err != nil {
			return err
		}
		if u.DSN != nil {
			cur.DSN = *u.DSN
		}
		if u.Capacity != nil {
			cur.Capacity = *u.Capacity
		}
		if u.State != nil {
			cur.State = *u.State
		}
		if err := checkShardFields(cur.DSN, cur.Capacity, cur.State); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE shards SET dsn = $2, capacity = $3, state = $4 WHERE name = $1`,
			name, cur.DSN, cur.Capacity, string(cur.State)); err != nil {
			return fmt.Errorf("postgres directory: update shard %q: %w", name, err)
		}
		s = cur
		return nil
	})
	return s, err
}

// lockShard locks a shard row for the rest of the transaction; ErrNotFound if absent.
// Later statements, with their new snapshots, see everything committed before the lock.
func lockShard(ctx context.Context, tx pgx.Tx, name string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM shards WHERE name = $1 FOR UPDATE`, name).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("shard " + name)
	} else if err != nil {
		return fmt.Errorf("postgres directory: lock shard %q: %w", name, err)
	}
	return nil
}

// RemoveShard unregisters a shard that holds no accounts (ErrShardNotEmpty otherwise).
// The shard row is locked first, so no concurrent creation or move can place an account
// on it in between.
func (d *Directory) RemoveShard(ctx context.Context, name string) error {
	return d.write(ctx, func(tx pgx.Tx) error {
		if err := lockShard(ctx, tx, name); err != nil {
			return err
		}
		var users int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE shard = $1`, name).Scan(&users); err != nil {
			return fmt.Errorf("postgres directory: remove shard %q: %w", name, err)
		}
		if users > 0 {
			return fmt.Errorf("%w: %q has %d accounts", ErrShardNotEmpty, name, users)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM shards WHERE name = $1`, name); err != nil {
			return fmt.Errorf("postgres directory: remove shard %q: %w", name, err)
		}
		return nil
	})
}

// checkShardRegistered accepts any shard name while no shard is registered (the embedded
// shape's LocalShard), and otherwise only a registered one, which it share-locks until
// the transaction ends so RemoveShard cannot run in between.
func checkShardRegistered(ctx context.Context, tx pgx.Tx, name string) error {
	var registered, anyShard bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM shards WHERE name = $1 FOR SHARE),
		EXISTS (SELECT 1 FROM shards)`, name).Scan(&registered, &anyShard); err != nil {
		return fmt.Errorf("postgres directory: shard %q: %w", name, err)
	}
	if anyShard && !registered {
		return fmt.Errorf("%w: shard %q is not registered", directory.ErrInvalid, name)
	}
	return nil
}

// placeAccount returns the shard for a new account. A requested shard must be registered
// (when any is). Otherwise: LocalShard while no shard is registered; else the active shard
// with the most free capacity (unlimited counts as most, then fewest accounts, then name),
// chosen with every active shard row locked in name order, so concurrent creations on any
// node never overshoot a capacity. ErrLimit when every active shard is full or none is
// active.
func placeAccount(ctx context.Context, tx pgx.Tx, requested string) (string, error) {
	if requested != "" {
		return requested, checkShardRegistered(ctx, tx, requested)
	}
	// Lock first, count after: in READ COMMITTED a statement reads other tables with the
	// snapshot it started with, so a count in the locking statement could miss accounts
	// committed while it waited for the lock.
	rows, err := tx.Query(ctx, `SELECT name, capacity FROM shards WHERE state = 'active' ORDER BY name FOR UPDATE`)
	type cand struct {
		name            string
		capacity, users int64
	}
	var cs []cand
	if err == nil {
		cs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (cand, error) {
			var c cand
			err := r.Scan(&c.name, &c.capacity)
			return c, err
		})
	}
	if err != nil {
		return "", fmt.Errorf("postgres directory: placement: %w", err)
	}
	if len(cs) == 0 {
		var anyShard bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM shards)`).Scan(&anyShard); err != nil {
			return "", fmt.Errorf("postgres directory: placement: %w", err)
		}
		if !anyShard {
			return directory.LocalShard, nil
		}
		return "", fmt.Errorf("%w: no active shard", directory.ErrLimit)
	}
	for i := range cs {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE shard = $1`, cs[i].name).Scan(&cs[i].users); err != nil {
			return "", fmt.Errorf("postgres directory: placement: %w", err)
		}
	}
	best, bestFree := "", int64(0)
	for _, c := range cs {
		free := c.capacity - c.users
		if c.capacity == 0 {
			free = math.MaxInt64 - c.users // unlimited: fewest accounts first
		}
		if free > bestFree {
			best, bestFree = c.name, free
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: every active shard is full", directory.ErrLimit)
	}
	return best, nil
}
