package app

// Shard and node registry operations for the CLI (and later the admin console). The
// embedded shape has one shard, "local", which ShardList shows; everything else needs the
// cluster directory and answers ErrNotCluster.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	dirpg "mailgrid/internal/directory/postgres"
	storepg "mailgrid/internal/store/postgres"
)

// ErrNotCluster is returned by cluster operations on an embedded single node.
var ErrNotCluster = errors.New("cluster commands need [cluster] directory in the configuration (this is an embedded single node)")

// shardCheckTimeout bounds connecting to a shard database from the CLI.
const shardCheckTimeout = 10 * time.Second

// ShardInfo is a shard as operators see it.
type ShardInfo struct {
	Name     string
	DSN      string // password replaced by "xxxxx"; the embedded shape's directory path
	State    string // active, draining, offline
	Capacity int64  // accounts placement may put on it; 0 = unlimited
	Users    int64  // accounts placed on it
	Bytes    int64  // database (or directory) size; -1 when it could not be read
	Health   string // "ok", or why the shard cannot be reached
	Created  time.Time
}

// ShardChange changes a shard; nil fields are left alone.
type ShardChange struct {
	DSN      *string
	Capacity *int64
	State    *string // active, draining, offline
}

// NodeInfo is a registered node.
type NodeInfo struct {
	Name      string
	Addresses []string // Addresses[i] is where Services[i] listens ("" for none)
	Services  []string
	Version   string
	Started   time.Time
	LastSeen  time.Time
	Down      bool // no heartbeat within cluster.down_after
}

// ShardList lists the shards with their users, size and health (a connection attempt
// per shard, so a dead shard shows here).
func (s *System) ShardList(ctx context.Context) ([]ShardInfo, error) {
	if s.cluster == nil {
		return s.localShardList(ctx)
	}
	regs, err := s.cluster.dir.Shards(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ShardInfo, len(regs))
	for i, r := range regs {
		out[i] = shardInfo(r)
		out[i].Bytes, out[i].Health = -1, "ok"
		if size, err := probeShard(ctx, r.DSN); err != nil {
			out[i].Health = err.Error()
		} else {
			out[i].Bytes = size
		}
	}
	return out, nil
}

// localShardList shows the embedded shape's one shard.
func (s *System) localShardList(ctx context.Context) ([]ShardInfo, error) {
	accts, err := s.Dir.Accounts(ctx, "")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.Cfg.Data, "shards", directory.LocalShard)
	info := ShardInfo{Name: directory.LocalShard, DSN: dir, State: string(dirpg.ShardActive),
		Users: int64(len(accts)), Health: "ok"}
	if info.Bytes, err = dirSize(dir); err != nil {
		info.Bytes, info.Health = -1, err.Error()
	}
	return []ShardInfo{info}, nil
}

// AddShard checks that the database at dsn can be reached and migrated to the store
// schema, then registers it. capacity 0 is unlimited.
func (s *System) AddShard(ctx context.Context, name, dsn string, capacity int64) (ShardInfo, error) {
	if s.cluster == nil {
		return ShardInfo{}, ErrNotCluster
	}
	if err := prepareShard(ctx, dsn); err != nil {
		return ShardInfo{}, err
	}
	sh, err := s.cluster.dir.AddShard(ctx, dirpg.Shard{Name: name, DSN: dsn, Capacity: capacity})
	if err != nil {
		return ShardInfo{}, err
	}
	return shardInfo(sh), nil
}

// UpdateShard changes a shard. A new DSN (the promoted standby after a failover) is
// checked like AddShard's first; running nodes switch to it at their next heartbeat.
func (s *System) UpdateShard(ctx context.Context, name string, c ShardChange) (ShardInfo, error) {
	if s.cluster == nil {
		return ShardInfo{}, ErrNotCluster
	}
	u := dirpg.ShardUpdate{DSN: c.DSN, Capacity: c.Capacity}
	if c.State != nil {
		st := dirpg.ShardState(*c.State)
		if !st.Valid() {
			return ShardInfo{}, fmt.Errorf("%w: shard state %q (want active, draining or offline)", directory.ErrInvalid, *c.State)
		}
		u.State = &st
	}
	if _, err := s.cluster.dir.Shard(ctx, name); err != nil {
		return ShardInfo{}, err
	}
	if c.DSN != nil {
		if err := prepareShard(ctx, *c.DSN); err != nil {
			return ShardInfo{}, err
		}
	}
	sh, err := s.cluster.dir.UpdateShard(ctx, name, u)
	if err != nil {
		return ShardInfo{}, err
	}
	return shardInfo(sh), nil
}

// NodeList lists the registered nodes; one without a heartbeat within cluster.down_after
// is Down.
func (s *System) NodeList(ctx context.Context) ([]NodeInfo, error) {
	if s.cluster == nil {
		return nil, ErrNotCluster
	}
	nodes, err := s.cluster.dir.Nodes(ctx, s.Cfg.Cluster.DownAfter.D())
	if err != nil {
		return nil, err
	}
	out := make([]NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = NodeInfo{Name: n.Name, Addresses: n.Addresses, Services: n.Services, Version: n.Version,
			Started: n.Started, LastSeen: n.LastHeartbeat, Down: n.Down}
	}
	return out, nil
}

func shardInfo(r dirpg.Shard) ShardInfo {
	return ShardInfo{Name: r.Name, DSN: RedactDSN(r.DSN), State: string(r.State), Capacity: r.Capacity,
		Users: r.Users, Bytes: -1, Created: r.CreatedAt}
}

// prepareShard connects to a shard database and applies the store schema, as every node
// will when it first opens the shard.
func prepareShard(ctx context.Context, dsn string) error {
	ctx, cancel := context.WithTimeout(ctx, shardCheckTimeout)
	defer cancel()
	st, err := storepg.Open(ctx, storepg.Options{DSN: dsn, MaxConns: 2})
	if err != nil {
		return fmt.Errorf("shard database %s: %w", RedactDSN(dsn), oneLine{err})
	}
	return st.Close()
}

// probeShard connects to a shard database and reads its size.
func probeShard(ctx context.Context, dsn string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, shardCheckTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, oneLine{err}
	}
	var size int64
	err = conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size)
	if err = errors.Join(err, conn.Close(ctx)); err != nil {
		return 0, oneLine{err}
	}
	return size, nil
}

// oneLine shows a multi-line error (pgx lists every address it tried, one per line) on
// one line, for CLI output and tables; errors.Is/As still see the original.
type oneLine struct{ err error }

func (o oneLine) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(o.err.Error(), "\n", "; ")), " ")
}

func (o oneLine) Unwrap() error { return o.err }

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

// kvPassword finds password=... in a key=value DSN (quoted or not).
var kvPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// RedactDSN hides the password of a PostgreSQL DSN (URL or key=value form) for printing.
func RedactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}
