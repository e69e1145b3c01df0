// Package app builds mailgrid's object graph from a Config: it is the one place that knows
// every package, picks the drivers, wires the front-ends to the core interfaces, and runs
// the listeners until shutdown.
//
// Two shapes, one code path: without [cluster] directory the node is the embedded single
// node (SQLite drivers, below); with it, the node is one of a cluster (cluster.go): the
// directory, its shard and node registries and the outbound queue are in that PostgreSQL
// database, the store shards are the PostgreSQL databases the shard registry names
// (shards.go), and changes travel between nodes by LISTEN/NOTIFY. Everything above the
// drivers — delivery, the protocol servers, the queue scheduler, admin — is the same.
//
// Data directory layout of the embedded shape:
//
//	DIR/directory.db        directory (domains, accounts, aliases, placement)
//	DIR/shards/local/       the one store shard: SQLite metadata + blob pack files
//	DIR/queue/              outbound queue: SQLite + bodies
//	DIR/spool/              temporary files of messages being received
//	DIR/tls/                self-signed certificate, created on first start
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/bus"
	"mailgrid/internal/config"
	"mailgrid/internal/directory"
	dirsqlite "mailgrid/internal/directory/sqlite"
	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/queue"
	queuesqlite "mailgrid/internal/queue/sqlite"
	"mailgrid/internal/store"
	storesqlite "mailgrid/internal/store/sqlite"
)

// System is an opened installation: storage and the services over it.
type System struct {
	Cfg    config.Config
	Log    *slog.Logger
	Dir    directory.Directory
	Bus    *bus.Bus
	Shards store.Shards
	Queue  queue.Queue
	Admin  *admin.Service

	cluster *clusterParts // nil in the embedded shape
	closers []func() error

	dkimOnce sync.Once
	dkim     dkimkeys.Keys // DKIMKeys

	purge purgeHandles // the stores the account and domain purgers opened (purge_stores.go)

	admin bool // opened by Administration: an administration command, not a serving node
}

// localShards is the embedded shape's store.Shards: one shard, "local".
type localShards struct {
	st store.Store
}

// Shard returns the store of a shard.
func (s localShards) Shard(name string) (store.Store, error) {
	if name != directory.LocalShard {
		return nil, fmt.Errorf("shard %q: %w", name, store.ErrNotFound)
	}
	return s.st, nil
}

// OpenOption adjusts Open.
type OpenOption func(*System)

// Administration opens the installation for a short-lived administration command (user
// move, shard drain, listings): the cluster's shard stores run no background text
// indexer, whose start-up scan would otherwise index mail in the command's process (a
// move's source, about to be deleted) and be abandoned when it exits. The serving nodes
// index.
func Administration() OpenOption { return func(s *System) { s.admin = true } }

// Open opens (creating on first use) the storage of the installation: in cfg.Data for the
// embedded shape, in PostgreSQL for a cluster node. Both `serve` and the offline CLI use
// it; SQLite and PostgreSQL both let several processes share the storage.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...OpenOption) (*System, error) {
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &System{Cfg: cfg, Log: log, Bus: bus.New()}
	for _, o := range opts {
		o(s)
	}
	open := s.openEmbedded
	if cfg.Clustered() {
		open = s.openCluster
	}
	if err := open(ctx); err != nil {
		if cerr := s.Close(); cerr != nil {
			log.Warn("closing after a failed open", "err", cerr)
		}
		return nil, err
	}
	s.Admin.Cluster = s.clusterAdmin() // nodes_admin.go
	s.Admin.DomainPurgers = append(s.Admin.DomainPurgers, s.purgeDomainState, s.purgeDomainStores)
	s.Admin.AccountPurgers = append(s.Admin.AccountPurgers, s.purgeAccountState) // purge_stores.go
	return s, nil
}

// openEmbedded opens the SQLite directory, shard and queue in the data directory.
func (s *System) openEmbedded(ctx context.Context) error {
	data := s.Cfg.Data
	dir, err := dirsqlite.Open(ctx, filepath.Join(data, "directory.db"))
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	s.Dir = dir
	s.closers = append(s.closers, dir.Close)

	st, err := storesqlite.Open(ctx, storesqlite.Options{
		Dir:       filepath.Join(data, "shards", directory.LocalShard),
		Publisher: s.Bus,
		Logger:    s.Log.With("shard", directory.LocalShard),
		// Sessions of accounts the CLI deletes or disables end (store/sqlite announce.go);
		// the administration commands hold no sessions.
		AnnouncePoll: s.announcePoll(),
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.closers = append(s.closers, st.Close)
	s.Shards = localShards{st: st}

	q, err := queuesqlite.Open(ctx, filepath.Join(data, "queue", "queue.db"), filepath.Join(data, "queue", "bodies"))
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	s.Queue = q
	s.closers = append(s.closers, q.Close)
	s.Admin = &admin.Service{Dir: s.Dir, Shards: s.Shards, Log: s.Log, DomainGrace: s.Cfg.Admin.DomainGrace.D()}
	return nil
}

// announcePoll is how often a serving embedded node looks for announcements of the
// CLI's processes: an operator's deletion ends the sessions within it.
func (s *System) announcePoll() time.Duration {
	if s.admin {
		return 0
	}
	return 250 * time.Millisecond
}

// DKIMKeys returns the installation's DKIM key keeper: files under DATA/dkim embedded
// (package dkimkeys), the directory database in a cluster, so every node signs with the
// same keys and a rotation on any node holds for all.
// One keeper serves the signing mailet and the console, so they share its key cache.
func (s *System) DKIMKeys() dkimkeys.Keys {
	s.dkimOnce.Do(func() {
		if s.cluster != nil {
			s.dkim = s.cluster.dir.DKIMKeys(dkimkeys.Options{})
		} else {
			s.dkim = dkimkeys.OpenDir(filepath.Join(s.Cfg.Data, "dkim"), dkimkeys.Options{})
		}
	})
	return s.dkim
}

// Close closes everything opened, in reverse order.
func (s *System) Close() error {
	errs := []error{s.purge.close()}
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}
