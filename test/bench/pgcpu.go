package main

// PostgreSQL's CPU during a command: the server runs on this machine, so the CPU time of
// the backends serving some databases can be read from /proc. A backend takes its time
// with it when it exits (the mover's own connections end with the command), so the
// backends are polled while the command runs and each one's last reading is kept.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCPUWatch polls the backends of some databases until stop.
type pgCPUWatch struct {
	conn  *pgx.Conn
	names []string
	first map[int32]time.Duration // each backend's reading when first seen (0 if it started after the watch)
	last  map[int32]time.Duration
	done  chan struct{}
	wg    sync.WaitGroup
}

// watchPGCPU starts polling the backends of the databases names.
func watchPGCPU(adminDSN string, names []string) (*pgCPUWatch, error) {
	conn, err := pgx.Connect(context.Background(), adminDSN)
	if err != nil {
		return nil, err
	}
	w := &pgCPUWatch{conn: conn, names: names, first: map[int32]time.Duration{}, last: map[int32]time.Duration{},
		done: make(chan struct{})}
	if err := w.poll(true); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	w.wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				_ = w.poll(false) // a failed poll loses one reading, not the figure
			}
		}
	})
	return w, nil
}

// poll reads every backend's CPU time; at the start (baseline) the readings are the
// backends' time before the watch.
func (w *pgCPUWatch) poll(baseline bool) error {
	rows, err := w.conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)`, w.names)
	if err != nil {
		return err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return err
	}
	for _, pid := range pids {
		cpu := procCPU(int(pid)) // webmail.go; 0 if it ended meanwhile
		if _, seen := w.first[pid]; !seen {
			w.first[pid] = 0
			if baseline {
				w.first[pid] = cpu
			}
		}
		w.last[pid] = cpu
	}
	return nil
}

// stop ends the polling (after one last reading) and returns the CPU time the backends
// spent since the watch began.
func (w *pgCPUWatch) stop() (time.Duration, error) {
	close(w.done)
	w.wg.Wait()
	err := w.poll(false)
	var total time.Duration
	for pid, cpu := range w.last {
		total += cpu - w.first[pid]
	}
	return total, errors.Join(err, w.conn.Close(context.Background()))
}
