package app

// The admin service's view of the nodes and shards (admin.Cluster): the registries of
// the cluster directory, or this node and its one shard in the embedded shape, and the
// migration engine (package cluster) that the console's moves run on.

import (
	"context"
	"fmt"
	"os"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/cluster"
	"mailgrid/internal/directory"
)

// clusterAdmin builds admin.Cluster for this system and closes it with the system.
func (s *System) clusterAdmin() *admin.Cluster {
	var eng *cluster.Engine
	if j, ok := s.Dir.(directory.MigrationJournal); ok && s.cluster != nil {
		host, _ := os.Hostname()
		eng = &cluster.Engine{Dir: s.Dir, Journal: j, Shards: s.Shards, Log: s.Log.With("svc", "migration"),
			Owner: fmt.Sprintf("%s:%d", host, os.Getpid())}
	}
	c := admin.NewCluster(s.Cfg.NodeName(), clusterSource{s: s, started: time.Now()}, eng, s.Log)
	s.closers = append(s.closers, c.Close) // closed before the shards (closers run backwards)
	return c
}

// clusterSource is admin.ClusterSource over ShardList and NodeList.
type clusterSource struct {
	s       *System
	started time.Time
}

func (c clusterSource) Nodes(ctx context.Context) ([]admin.NodeStatus, error) {
	if c.s.cluster == nil {
		return []admin.NodeStatus{c.embeddedNode()}, nil
	}
	nodes, err := c.s.cluster.dir.Nodes(ctx, c.s.Cfg.Cluster.DownAfter.D())
	if err != nil {
		return nil, err
	}
	out := make([]admin.NodeStatus, len(nodes))
	for i, n := range nodes {
		out[i] = admin.NodeStatus{Name: n.Name, Addresses: n.Addresses, Services: n.Services, Version: n.Version,
			Load: n.Load, Started: n.Started, LastSeen: n.LastHeartbeat, Down: n.Down}
	}
	return out, nil
}

// embeddedNode is this process: its configured listeners, up since the system opened.
func (c clusterSource) embeddedNode() admin.NodeStatus {
	l := c.s.Cfg.Listen
	n := admin.NodeStatus{Name: c.s.Cfg.NodeName(), Version: Version(), Started: c.started, LastSeen: time.Now()}
	for _, sv := range []struct{ name, addr string }{{"smtp", l.SMTP}, {"submission", l.Submission},
		{"submissions", l.Submissions}, {"imap", l.IMAP}, {"imaps", l.IMAPS}, {"pop3", l.POP3},
		{"pop3s", l.POP3S}, {"managesieve", l.ManageSieve}, {"http", l.HTTP}} {
		if sv.addr != "" {
			n.Services, n.Addresses = append(n.Services, sv.name), append(n.Addresses, sv.addr)
		}
	}
	return n
}

func (c clusterSource) Shards(ctx context.Context) ([]admin.ShardStatus, error) {
	infos, err := c.s.ShardList(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.ShardStatus, len(infos))
	for i, sh := range infos {
		out[i] = admin.ShardStatus{Name: sh.Name, State: sh.State, Users: sh.Users, Bytes: sh.Bytes,
			Capacity: sh.Capacity, Health: sh.Health}
	}
	return out, nil
}
