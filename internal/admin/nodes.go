package admin

// Nodes and shards (the console's "Nodes and shards" page and /api/v1/nodes, /shards,
// /migrations): what the cluster consists of and the user migrations between its shards.
// System administrators only: nodes and shards serve every tenant.
//
// Model. internal/app knows the node and shard registries (ClusterSource); the
// migrations are package cluster's journal and Engine. A migration started here runs in
// the background on this node (nodes_run.go): the request returns once the journal has
// its row, the page then follows it through the journal like any migration started by
// `mailgrid user move` on another host. Cancel abandons an unfinished migration that has
// not switched placement (cluster.Engine.Cancel); one running on this node is stopped
// first. The embedded single node has one shard and no journal: it lists itself and its
// shard, and migrations answer ErrNotCluster.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// ErrNotCluster is returned for migrations on an embedded single node.
var ErrNotCluster = errors.New("single node, embedded storage: there is no other shard to migrate to")

// NodeStatus is one node of the registry.
type NodeStatus struct {
	Name      string
	Addresses []string // Addresses[i] is where Services[i] listens ("" for none)
	Services  []string
	Version   string
	Load      map[string]float64 // the node's last reported figures
	Started   time.Time
	LastSeen  time.Time
	Down      bool // no heartbeat within cluster.down_after
	Self      bool // the node answering
}

// ShardStatus is one store shard.
type ShardStatus struct {
	Name     string
	State    string // active, draining, offline
	Users    int64
	Bytes    int64 // -1: could not be read
	Capacity int64 // 0: unlimited
	Health   string
}

// Draining reports whether placement skips the shard while its users move off.
func (s ShardStatus) Draining() bool { return s.State == "draining" }

// ClusterSource reads the node and shard registries (internal/app implements it).
type ClusterSource interface {
	Nodes(ctx context.Context) ([]NodeStatus, error)
	Shards(ctx context.Context) ([]ShardStatus, error)
}

// MigrationStatus is a journal row as the console shows it.
type MigrationStatus struct {
	directory.Migration
	Finished time.Time // zero while unfinished
	Here     bool      // running in this process now
}

// MaxMigrationsListed bounds the journal rows Migrations returns (newest first).
const MaxMigrationsListed = 200

// ClusterOverview says what kind of installation answers.
type ClusterOverview struct {
	Embedded bool   // single node, embedded storage
	Node     string // the node answering
}

func (c *Scoped) clusterAdmin() (*Cluster, error) {
	if !c.a.IsSystemAdmin() {
		return nil, fmt.Errorf("%w: nodes and shards are the system administrator's", ErrForbidden)
	}
	if c.s.Cluster == nil {
		return nil, fmt.Errorf("%w: this server has no cluster view", ErrNotCluster)
	}
	return c.s.Cluster, nil
}

// ClusterOverview says whether this is a cluster and which node answers.
func (c *Scoped) ClusterOverview() (ClusterOverview, error) {
	cl, err := c.clusterAdmin()
	if err != nil {
		return ClusterOverview{}, err
	}
	return ClusterOverview{Embedded: cl.Engine == nil, Node: cl.Node}, nil
}

// Nodes lists the registered nodes (the embedded node: itself).
func (c *Scoped) Nodes(ctx context.Context) ([]NodeStatus, error) {
	cl, err := c.clusterAdmin()
	if err != nil {
		return nil, err
	}
	ns, err := cl.Source.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ns {
		ns[i].Self = ns[i].Name == cl.Node
	}
	return ns, nil
}

// Shards lists the shards with their users, size and health.
func (c *Scoped) Shards(ctx context.Context) ([]ShardStatus, error) {
	cl, err := c.clusterAdmin()
	if err != nil {
		return nil, err
	}
	return cl.Source.Shards(ctx)
}

// Migrations lists the journal, newest first (at most MaxMigrationsListed rows); empty
// on the embedded node.
func (c *Scoped) Migrations(ctx context.Context) ([]MigrationStatus, error) {
	cl, err := c.clusterAdmin()
	if err != nil {
		return nil, err
	}
	out := []MigrationStatus{}
	if cl.Journal == nil {
		return out, nil
	}
	ms, err := cl.Journal.Migrations(ctx, false)
	if err != nil {
		return nil, err
	}
	for i, m := range ms {
		if i == MaxMigrationsListed {
			break
		}
		st := MigrationStatus{Migration: m, Here: cl.runningHere(m.ID)}
		if !m.State.Unfinished() {
			st.Finished = m.Updated
		}
		out = append(out, st)
	}
	return out, nil
}

// StartMigration starts moving (or copying) the account at address to the target shard
// in the background on this node and returns the journal row once it exists. The target
// must be a registered shard that is active; a draining or offline one is ErrInvalid.
func (c *Scoped) StartMigration(ctx context.Context, address, target string, kind directory.MigrationKind) (directory.Migration, error) {
	cl, err := c.clusterAdmin()
	if err != nil {
		return directory.Migration{}, err
	}
	if kind != directory.MigrationMove && kind != directory.MigrationCopy {
		return directory.Migration{}, fmt.Errorf("%w: kind %q (want move or copy)", directory.ErrInvalid, kind)
	}
	addr, err := mail.Parse(address)
	if err != nil {
		return directory.Migration{}, fmt.Errorf("%w: address %q: %v", directory.ErrInvalid, address, err)
	}
	if cl.Engine == nil {
		return directory.Migration{}, ErrNotCluster
	}
	acct, err := c.s.Dir.Account(ctx, addr)
	if err != nil {
		return directory.Migration{}, err
	}
	shards, err := cl.Source.Shards(ctx)
	if err != nil {
		return directory.Migration{}, err
	}
	i := slices.IndexFunc(shards, func(s ShardStatus) bool { return s.Name == target })
	switch {
	case i < 0:
		return directory.Migration{}, fmt.Errorf("%w: shard %q", directory.ErrNotFound, target)
	case shards[i].State != "active":
		return directory.Migration{}, fmt.Errorf("%w: shard %q is %s", directory.ErrInvalid, target, shards[i].State)
	case acct.Shard == target && kind == directory.MigrationCopy:
		return directory.Migration{}, fmt.Errorf("%w: %s is on shard %q already", directory.ErrInvalid, addr, target)
	}
	m, err := cl.start(ctx, addr, target, kind)
	if err != nil {
		return m, err
	}
	c.Record(ctx, "migration."+string(kind), acct.Address.Domain, acct.Address.String(),
		fmt.Sprintf("migration %d: %s -> %s", m.ID, m.Source, m.Target))
	return m, nil
}

// CancelMigration abandons the unfinished migration id (stopping it first when it runs
// on this node). One that switched placement already is ErrInvalid: run it again to
// finish; one running on another node is directory.ErrBusy.
func (c *Scoped) CancelMigration(ctx context.Context, id int64) (directory.Migration, error) {
	cl, err := c.clusterAdmin()
	if err != nil {
		return directory.Migration{}, err
	}
	if cl.Engine == nil {
		return directory.Migration{}, ErrNotCluster
	}
	ms, err := cl.Journal.Migrations(ctx, false)
	if err != nil {
		return directory.Migration{}, err
	}
	i := slices.IndexFunc(ms, func(m directory.Migration) bool { return m.ID == id })
	switch {
	case i < 0:
		return directory.Migration{}, fmt.Errorf("%w: migration %d", directory.ErrNotFound, id)
	case !ms[i].State.Unfinished():
		return ms[i], fmt.Errorf("%w: migration %d is %s", directory.ErrInvalid, id, ms[i].State)
	}
	m, err := cl.cancel(ctx, ms[i])
	if err != nil {
		return m, err
	}
	c.Record(ctx, "migration.cancel", m.Domain, m.Address, fmt.Sprintf("migration %d: %s -> %s", m.ID, m.Source, m.Target))
	return m, nil
}
