package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"mailgrid/internal/cluster"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// Cluster is the nodes and shards view of Service (nodes.go) and the migrations this
// node runs in the background. Build it with NewCluster; Close stops the runs.
type Cluster struct {
	Node    string                     // this node's name
	Source  ClusterSource              // the registries
	Engine  *cluster.Engine            // nil: embedded single node (no migrations)
	Journal directory.MigrationJournal // nil when Engine is
	Log     *slog.Logger

	ctx    context.Context // background runs live under it; Close cancels it
	stop   context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	runs   map[int64]*bgRun // by migration ID, while running here
	closed bool
}

// bgRun is a migration running in this process.
type bgRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	last   directory.Migration // the latest journal state
}

// NewCluster returns the cluster view. eng nil is the embedded single node; otherwise
// eng.Journal is the journal, and each run gets a copy of *eng with its own Progress.
func NewCluster(node string, src ClusterSource, eng *cluster.Engine, log *slog.Logger) *Cluster {
	ctx, stop := context.WithCancel(context.Background())
	if log == nil {
		log = slog.Default()
	}
	c := &Cluster{Node: node, Source: src, Engine: eng, Log: log, ctx: ctx, stop: stop, runs: map[int64]*bgRun{}}
	if eng != nil {
		c.Journal = eng.Journal
	}
	return c
}

// Close stops the migrations running here and waits for them: each is journaled as
// failed and resumes when started again (here, or by `mailgrid user move`).
func (c *Cluster) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
	return nil
}

func (c *Cluster) runningHere(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.runs[id]
	return ok
}

// start runs the migration in the background and returns its journal row once the
// engine wrote it (or the error that stopped it before).
func (c *Cluster) start(ctx context.Context, addr mail.Address, target string, kind directory.MigrationKind) (directory.Migration, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return directory.Migration{}, errors.New("the server is shutting down")
	}
	c.wg.Add(1)
	c.mu.Unlock()
	rctx, cancel := context.WithCancel(c.ctx)
	r := &bgRun{cancel: cancel, done: make(chan struct{})}
	first := make(chan directory.Migration, 1)
	eng := *c.Engine
	eng.Progress = func(m directory.Migration) {
		r.mu.Lock()
		r.last = m
		r.mu.Unlock()
		select {
		case first <- m: // the first call: register the run under its ID
			c.mu.Lock()
			c.runs[m.ID] = r
			c.mu.Unlock()
		default:
		}
	}
	ended := make(chan error, 1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		run := eng.Move
		if kind == directory.MigrationCopy {
			run = eng.Copy
		}
		m, err := run(rctx, addr, target)
		c.mu.Lock()
		if c.runs[m.ID] == r {
			delete(c.runs, m.ID)
		}
		c.mu.Unlock()
		close(r.done)
		if err != nil {
			c.Log.Warn("admin: migration stopped", "migration", m.ID, "account", addr.String(), "to", target, "err", err)
		} else {
			c.Log.Info("admin: migration done", "migration", m.ID, "account", addr.String(), "to", target)
		}
		ended <- err
	}()
	select {
	case m := <-first:
		return m, nil
	case err := <-ended:
		select { // it may have finished at once after its first save
		case m := <-first:
			return m, err
		default:
		}
		if err == nil {
			err = errors.New("the migration ended without a journal entry")
		}
		return directory.Migration{}, err
	case <-ctx.Done():
		// The run goes on; the journal shows it.
		return directory.Migration{}, ctx.Err()
	}
}

// cancel stops m if it runs here (unless it switched placement), then abandons it.
func (c *Cluster) cancel(ctx context.Context, m directory.Migration) (directory.Migration, error) {
	c.mu.Lock()
	r := c.runs[m.ID]
	c.mu.Unlock()
	if r != nil {
		r.mu.Lock()
		phase := r.last.Phase
		r.mu.Unlock()
		if phase != directory.PhaseCopy && phase != directory.PhaseFence {
			return m, fmt.Errorf("%w: migration %d already switched placement; it finishes by itself", directory.ErrInvalid, m.ID)
		}
		r.cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
			return m, ctx.Err()
		}
	}
	addr, err := mail.Parse(m.Address)
	if err != nil {
		return m, fmt.Errorf("migration %d: address %q: %w", m.ID, m.Address, err)
	}
	return c.Engine.Cancel(ctx, addr)
}
