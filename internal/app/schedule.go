package app

import (
	"context"
	"errors"
	"path/filepath"
	"sync"

	"mailgrid/internal/schedule"
	schedulepg "mailgrid/internal/schedule/postgres"
	schedulesqlite "mailgrid/internal/schedule/sqlite"
	"mailgrid/internal/web"
)

// openSchedule opens the webmail's scheduled sends: the directory database's in a
// cluster (shared by every node, so any node's Runner may send an item: leases keep it
// to one), else DATA/schedule.
func (s *System) openSchedule() (schedule.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), contactsTimeout)
	defer cancel()
	if s.cluster != nil {
		return schedulepg.Open(ctx, s.Cfg.Cluster.Directory)
	}
	return schedulesqlite.Open(ctx, schedulesqlite.Options{Dir: filepath.Join(s.Cfg.Data, "schedule")})
}

// runSchedule starts this node's schedule.Runner, which sends due items through the web
// server's submission path (web.Server.SendScheduled), and after the server's Shutdown
// stops it and closes the store.
func (s *System) runSchedule(srv *web.Server, st schedule.Store) server {
	r := schedule.NewRunner(st, srv.SendScheduled, schedule.RunnerOptions{Logger: s.Log.With("svc", "schedule")})
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.Log.Error("schedule: runner stopped", "err", err)
		}
	})
	return closingServer{server: srv, close: func() error {
		stop()
		wg.Wait()
		return st.Close()
	}}
}
