package app

// The cluster shape. One PostgreSQL database, [cluster] directory, holds what every node
// shares: the directory (schema "directory", with the shard and node registries) and the
// outbound queue (schema "queue"). Store shards are other PostgreSQL databases, one per
// shard, listed only in the shard registry (shards.go). A node is stateless: its data
// directory keeps only its spool and self-signed certificate, so any node serves any
// user and a node can be replaced by starting another with the same configuration.
//
// Running nodes register in the node registry (name, listener addresses, version,
// services) and heartbeat every cluster.heartbeat; the same tick re-reads the shard
// registry so a failover DSN reaches every node. The queue scheduler leases items under
// the node's name: a node that dies loses its items when queue.lease has passed, and
// whichever node leases them next delivers them.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	dirpg "mailgrid/internal/directory/postgres"
	queuepg "mailgrid/internal/queue/postgres"
)

// clusterParts is what only the cluster shape has.
type clusterParts struct {
	dir    *dirpg.Directory
	shards *clusterShards
}

// openCluster opens the PostgreSQL directory and queue of cfg.Cluster.Directory and the
// registry-driven shards.
func (s *System) openCluster(ctx context.Context) error {
	dsn := s.Cfg.Cluster.Directory
	dir, err := dirpg.Open(ctx, dsn, dirpg.WithLogger(s.Log.With("svc", "directory")))
	if err != nil {
		return fmt.Errorf("cluster directory: %w", err)
	}
	s.closers = append(s.closers, dir.Close)
	shards := newClusterShards(dir, s.Bus, s.Log)
	shards.noIndexer = s.admin
	s.closers = append(s.closers, shards.Close)
	s.cluster = &clusterParts{dir: dir, shards: shards}
	s.Dir = clusterDirectory{dir}
	s.Shards = shards

	q, err := queuepg.Open(ctx, dsn)
	if err != nil {
		return fmt.Errorf("cluster queue: %w", err)
	}
	s.Queue = q
	s.closers = append(s.closers, q.Close)
	s.Admin = &admin.Service{Dir: s.Dir, Shards: s.Shards, Log: s.Log, DomainGrace: s.Cfg.Admin.DomainGrace.D()}
	return nil
}

// clusterDirectory refuses to create accounts while no shard is registered: the
// directory would place them on the embedded shape's "local" shard, which a cluster
// does not have.
type clusterDirectory struct {
	*dirpg.Directory
}

// CreateAccount checks that a shard exists, then creates the account.
func (d clusterDirectory) CreateAccount(ctx context.Context, n directory.NewAccount) (directory.Account, error) {
	shards, err := d.Shards(ctx)
	if err != nil {
		return directory.Account{}, err
	}
	if len(shards) == 0 {
		return directory.Account{}, fmt.Errorf("%w: no store shard is registered yet (mailgrid shard add NAME --dsn DSN)", directory.ErrInvalid)
	}
	return d.Directory.CreateAccount(ctx, n)
}

// hasShards reports whether the cluster has a registered shard (always true embedded).
func (s *System) hasShards(ctx context.Context) (bool, error) {
	if s.cluster == nil {
		return true, nil
	}
	shards, err := s.cluster.dir.Shards(ctx)
	return len(shards) > 0, err
}

// Version is the mailgrid version of this binary as the Go toolchain stamped it (module
// version or VCS revision), "devel" when unknown.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" && len(st.Value) >= 12 {
				v = "devel-" + st.Value[:12]
			}
		}
	}
	return v
}

// registerNode records this node in the node registry with the services it runs (and
// where each listens: Addresses[i] serves Services[i]) and starts the heartbeat, which
// also refreshes the shards. stop ends the heartbeat and waits for it.
func (s *System) registerNode(ctx context.Context, ls []listener) (stop func(), err error) {
	node := dirpg.Node{Name: s.Cfg.NodeName(), Version: Version(), Started: time.Now()}
	for _, l := range ls {
		node.Services = append(node.Services, l.name)
		node.Addresses = append(node.Addresses, l.l.Addr().String())
	}
	node.Services = append(node.Services, "queue")
	node.Addresses = append(node.Addresses, "")
	if err := s.cluster.dir.RegisterNode(ctx, node); err != nil {
		return nil, err
	}
	s.Log.Info("node registered", "node", node.Name, "services", node.Services)
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.heartbeat(hctx, node)
	}()
	return func() { cancel(); <-done }, nil
}

// heartbeat beats every cluster.heartbeat until ctx ends, registering again if an
// operator removed the node's row, and refreshes the shards on the same tick.
func (s *System) heartbeat(ctx context.Context, node dirpg.Node) {
	every := s.Cfg.Cluster.Heartbeat.D()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		bctx, cancel := context.WithTimeout(ctx, every)
		load := map[string]float64{"goroutines": float64(runtime.NumGoroutine())}
		err := s.cluster.dir.Heartbeat(bctx, node.Name, load)
		if errors.Is(err, directory.ErrNotFound) {
			err = s.cluster.dir.RegisterNode(bctx, node)
		}
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("heartbeat", "node", node.Name, "err", err)
		}
		if err := s.cluster.shards.Refresh(bctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("shard registry refresh", "err", err)
		}
		cancel()
	}
}
