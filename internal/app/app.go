// Package app builds mailgrid's object graph from a Config: it is the one place that knows
// every package, picks the drivers (SQLite for the embedded shape), wires the front-ends
// to the core interfaces, and runs the listeners until shutdown.
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

	"mailgrid/internal/admin"
	"mailgrid/internal/bus"
	"mailgrid/internal/config"
	"mailgrid/internal/directory"
	dirsqlite "mailgrid/internal/directory/sqlite"
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
	Shards *Shards
	Queue  queue.Queue
	Admin  *admin.Service

	closers []func() error
}

// Shards maps shard names to opened stores. The embedded shape has one, "local".
type Shards struct {
	m map[string]store.Store
}

// Shard returns the store of a shard.
func (s *Shards) Shard(name string) (store.Store, error) {
	st, ok := s.m[name]
	if !ok {
		return nil, fmt.Errorf("shard %q: %w", name, store.ErrNotFound)
	}
	return st, nil
}

// Open opens (creating on first use) the storage of the installation in cfg.Data.
// Both `serve` and the offline CLI use it; SQLite lets them share the files.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*System, error) {
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	s := &System{Cfg: cfg, Log: log, Bus: bus.New()}
	if err := s.open(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *System) open(ctx context.Context) error {
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
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.closers = append(s.closers, st.Close)
	s.Shards = &Shards{m: map[string]store.Store{directory.LocalShard: st}}

	q, err := queuesqlite.Open(ctx, filepath.Join(data, "queue", "queue.db"), filepath.Join(data, "queue", "bodies"))
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	s.Queue = q
	s.closers = append(s.closers, q.Close)
	s.Admin = &admin.Service{Dir: s.Dir, Shards: s.Shards}
	return nil
}

// Close closes everything opened, in reverse order.
func (s *System) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}
