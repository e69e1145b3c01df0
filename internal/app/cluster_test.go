package app

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailgrid/internal/admin"
	"mailgrid/internal/config"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clusterConfig is a node of a cluster on dirDSN with no listeners.
func clusterConfig(t *testing.T, dirDSN, node string) config.Config {
	t.Helper()
	c := config.Default()
	c.Data = t.TempDir()
	c.Hostname = "mail.cluster.test"
	c.Listen = config.Listen{}
	c.Cluster.Directory = dirDSN
	c.Node.Name = node
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func openSystem(t *testing.T, c config.Config) *System {
	t.Helper()
	s, err := Open(context.Background(), c, obs.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// twoShardCluster opens node a on a fresh directory with shards s1 and s2 registered.
func twoShardCluster(t *testing.T) (a *System, dirDSN string, shardDSN [2]string) {
	t.Helper()
	dirDSN = pgtest.DSN(t)
	shardDSN = [2]string{pgtest.DSN(t), pgtest.DSN(t)}
	a = openSystem(t, clusterConfig(t, dirDSN, "a"))
	ctx := context.Background()
	for i, name := range []string{"s1", "s2"} {
		if _, err := a.AddShard(ctx, name, shardDSN[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	return a, dirDSN, shardDSN
}

// TestClusterNeedsShardBeforeAccounts: before any shard is registered a cluster creates
// no account (it would land on the embedded shape's "local" shard) and Bootstrap waits.
func TestClusterNeedsShardBeforeAccounts(t *testing.T) {
	ctx := context.Background()
	s := openSystem(t, clusterConfig(t, pgtest.DSN(t), "a"))
	if created, _, err := s.Bootstrap(ctx, "pw"); err != nil || created {
		t.Fatalf("bootstrap without shards: created %v, %v", created, err)
	}
	if _, err := s.Admin.AddDomain(ctx, directory.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Admin.AddAccount(ctx, directory.NewAccount{Address: mail.MustParse("u@example.test"), Password: "pw"})
	if !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("account without a shard: %v", err)
	}
	// A shard whose database cannot be reached is not registered.
	if _, err := s.AddShard(ctx, "bad", "postgres://postgres@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2", 0); err == nil {
		t.Fatal("unreachable shard registered")
	}
	if list, err := s.ShardList(ctx); err != nil || len(list) != 0 {
		t.Fatalf("shards after a failed add: %+v, %v", list, err)
	}
}

// TestClusterPlacementAndShardList: accounts created on one node spread over the shards;
// shard list counts them, reads sizes and reports health; the DSN's password is hidden.
func TestClusterPlacementAndShardList(t *testing.T) {
	ctx := context.Background()
	a, _, _ := twoShardCluster(t)
	if _, err := a.Admin.AddDomain(ctx, directory.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	on := map[string]int{}
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		acct, err := a.Admin.AddAccount(ctx, directory.NewAccount{Address: mail.MustParse(u + "@example.test"), Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		on[acct.Shard]++
	}
	if on["s1"] != 2 || on["s2"] != 2 {
		t.Fatalf("placement: %v", on)
	}
	list, err := a.ShardList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("shard list: %+v", list)
	}
	for _, sh := range list {
		if sh.Users != 2 || sh.Health != "ok" || sh.Bytes <= 0 || sh.State != "active" {
			t.Errorf("shard %+v", sh)
		}
	}
	state := "draining"
	capacity := int64(10)
	sh, err := a.UpdateShard(ctx, "s1", ShardChange{State: &state, Capacity: &capacity})
	if err != nil || sh.State != "draining" || sh.Capacity != 10 {
		t.Fatalf("update: %+v, %v", sh, err)
	}
	acct, err := a.Admin.AddAccount(ctx, directory.NewAccount{Address: mail.MustParse("u5@example.test"), Password: "pw"})
	if err != nil || acct.Shard != "s2" {
		t.Fatalf("a draining shard took a new account: %+v, %v", acct, err)
	}
	bad := "sleeping"
	if _, err := a.UpdateShard(ctx, "s1", ShardChange{State: &bad}); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("bad state: %v", err)
	}
	if _, err := a.UpdateShard(ctx, "nosuch", ShardChange{State: &state}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown shard: %v", err)
	}
}

// deliver puts one message into acct's INBOX on st and returns its UID.
func deliver(t *testing.T, st store.Store, acct store.AccountRef, subject string) store.UID {
	t.Helper()
	body := bytes.NewReader([]byte("From: x@example.test\r\nSubject: " + subject + "\r\n\r\nhello\r\n"))
	res, err := st.Deliver(context.Background(), store.Delivery{Body: body, Targets: []store.DeliveryTarget{{Account: acct}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("deliver: %+v, %v", res, err)
	}
	return res[0].UID
}

// nextAdded waits (bounded) for the next MessageAdded on c and returns its UID.
func nextAdded(t *testing.T, c <-chan store.Change) store.UID {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ch, ok := <-c:
			if !ok {
				t.Fatal("subscription closed")
			}
			if ch.Kind == store.MessageAdded {
				return ch.UID
			}
		case <-timeout:
			t.Fatal("no MessageAdded within 20s")
		}
	}
}

// TestClusterChangesCrossNodes: a delivery committed through node a reaches a
// subscription on node b (LISTEN/NOTIFY on the shard), and node a's own bus sees each of
// its commits exactly once (its listener skips what its store already published).
func TestClusterChangesCrossNodes(t *testing.T) {
	ctx := context.Background()
	a, dirDSN, _ := twoShardCluster(t)
	b := openSystem(t, clusterConfig(t, dirDSN, "b"))
	if _, err := a.Admin.AddDomain(ctx, directory.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	acct, err := a.Admin.AddAccount(ctx, directory.NewAccount{Address: mail.MustParse("u@example.test"), Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	ref := admin.Ref(acct)
	if _, err := b.Shards.Shard(acct.Shard); err != nil { // b listens on the shard from now on
		t.Fatal(err)
	}
	subA, subB := a.Bus.Subscribe(ref, 16), b.Bus.Subscribe(ref, 16)
	defer subA.Close()
	defer subB.Close()
	st, err := a.Shards.Shard(acct.Shard)
	if err != nil {
		t.Fatal(err)
	}
	uid1, uid2 := deliver(t, st, ref, "one"), deliver(t, st, ref, "two")
	for _, c := range []struct {
		node string
		sub  <-chan store.Change
	}{{"a", subA.C}, {"b", subB.C}} {
		if got1, got2 := nextAdded(t, c.sub), nextAdded(t, c.sub); got1 != uid1 || got2 != uid2 {
			t.Errorf("node %s saw UIDs %d, %d; want %d, %d once each in commit order", c.node, got1, got2, uid1, uid2)
		}
	}
}

// TestClusterShardFailoverAndOffline: a changed DSN (the promoted standby) is picked up at
// the next refresh without a restart; an offline shard is refused until it is active.
func TestClusterShardFailoverAndOffline(t *testing.T) {
	ctx := context.Background()
	a, dirDSN, shardDSN := twoShardCluster(t)
	b := openSystem(t, clusterConfig(t, dirDSN, "b"))
	old, err := b.Shards.Shard("s1")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := b.Shards.Shard("s1"); again != old {
		t.Fatal("an opened shard is not cached")
	}
	// A standby not yet promoted is read-only: the DSN check refuses it.
	readOnly := shardDSN[0] + "&default_transaction_read_only=on"
	if _, err := a.UpdateShard(ctx, "s1", ShardChange{DSN: &readOnly}); err == nil {
		t.Fatal("a read-only (unpromoted standby) DSN was accepted")
	}
	// Stands for the promoted standby: the same database under another DSN.
	standby := shardDSN[0] + "&application_name=promoted-standby"
	if _, err := a.UpdateShard(ctx, "s1", ShardChange{DSN: &standby}); err != nil {
		t.Fatal(err)
	}
	if err := b.cluster.shards.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cur, err := b.Shards.Shard("s1")
	if err != nil || cur == old {
		t.Fatalf("after a DSN change: same store %v, %v", cur == old, err)
	}
	offline, active := "offline", "active"
	if _, err := a.UpdateShard(ctx, "s1", ShardChange{State: &offline}); err != nil {
		t.Fatal(err)
	}
	if err := b.cluster.shards.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Shards.Shard("s1"); err == nil {
		t.Fatal("an offline shard was served")
	}
	if _, err := a.UpdateShard(ctx, "s1", ShardChange{State: &active}); err != nil {
		t.Fatal(err)
	}
	ok := false
	for i := 0; i < 100 && !ok; i++ { // a failed open is retried after shardRetryAfter
		_, err = b.Shards.Shard("s1")
		ok = err == nil
		if !ok {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatalf("shard not served again after it became active: %v", err)
	}
	if _, err := b.Shards.Shard("nosuch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unregistered shard: %v", err)
	}
}

// TestClusterBootstrapRace: three nodes bootstrapping at once create one administrator.
func TestClusterBootstrapRace(t *testing.T) {
	ctx := context.Background()
	a, dirDSN, _ := twoShardCluster(t)
	nodes := []*System{a, openSystem(t, clusterConfig(t, dirDSN, "b")), openSystem(t, clusterConfig(t, dirDSN, "c"))}
	var wg sync.WaitGroup
	created := make([]bool, len(nodes))
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Go(func() { created[i], _, errs[i] = n.Bootstrap(ctx, "admin-pw") })
	}
	wg.Wait()
	winners := 0
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
	}
	accts, err := a.Dir.Accounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if winners != 1 || len(accts) != 1 || accts[0].Role != directory.RoleSystemAdmin {
		t.Fatalf("%d nodes created an administrator; accounts %+v", winners, accts)
	}
	if _, err := a.Dir.Authenticate(ctx, "admin@mail.cluster.test", "admin-pw"); err != nil {
		t.Fatal(err)
	}
}

// TestClusterServeRegistersNode: a serving node registers with its services and
// addresses, heartbeats, and is shown down once it stopped heartbeating.
func TestClusterServeRegistersNode(t *testing.T) {
	ctx := context.Background()
	_, dirDSN, _ := twoShardCluster(t)
	c := clusterConfig(t, dirDSN, "n1")
	c.Listen.SMTP = "127.0.0.1:0"
	c.Cluster.Heartbeat = config.Duration(50 * time.Millisecond)
	c.Cluster.DownAfter = config.Duration(time.Second)
	n := openSystem(t, c)
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- n.Serve(sctx) }()

	var first NodeInfo
	seen := func(cond func(NodeInfo) bool) bool {
		for i := 0; i < 200; i++ {
			nodes, err := n.NodeList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) == 1 && cond(nodes[0]) {
				return true
			}
			time.Sleep(50 * time.Millisecond)
		}
		return false
	}
	if !seen(func(ni NodeInfo) bool { first = ni; return !ni.Down }) {
		t.Fatal("node not registered")
	}
	if first.Name != "n1" || len(first.Services) != 2 || first.Services[0] != "smtp" || first.Services[1] != "queue" ||
		first.Addresses[0] == "" || first.Version == "" {
		t.Fatalf("registered %+v", first)
	}
	if !seen(func(ni NodeInfo) bool { return ni.LastSeen.After(first.LastSeen) }) {
		t.Fatal("no heartbeat")
	}
	stop()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if !seen(func(ni NodeInfo) bool { return ni.Down }) {
		t.Fatal("a stopped node is not shown down")
	}
}

// TestClusterDirKeepsWebAuth: a clustered System's directory keeps web sessions, API
// tokens, TOTP secrets and the audit log, so the HTTP listener is built, not skipped.
func TestClusterDirKeepsWebAuth(t *testing.T) {
	s := openSystem(t, clusterConfig(t, pgtest.DSN(t), "a"))
	if _, ok := s.Dir.(directory.WebAuthStore); !ok {
		t.Errorf("cluster directory %T does not implement directory.WebAuthStore", s.Dir)
	}
	if _, ok := s.Dir.(directory.AuditLog); !ok {
		t.Errorf("cluster directory %T does not implement directory.AuditLog", s.Dir)
	}
	srv, err := s.webServer(nil, nil)
	if err != nil {
		t.Fatalf("webServer in a cluster: %v", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestEmbeddedShardList: the embedded shape shows its one shard; cluster operations
// refuse with ErrNotCluster.
func TestEmbeddedShardList(t *testing.T) {
	ctx := context.Background()
	c := config.Default()
	c.Data, c.Hostname = t.TempDir(), "mail.single.test"
	s := openSystem(t, c)
	if _, _, err := s.Bootstrap(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	list, err := s.ShardList(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "local" || list[0].Users != 1 || list[0].Health != "ok" || list[0].Bytes <= 0 {
		t.Fatalf("shard list: %+v, %v", list, err)
	}
	if _, err := s.AddShard(ctx, "s1", "postgres://x@127.0.0.1/db", 0); !errors.Is(err, ErrNotCluster) {
		t.Fatalf("add: %v", err)
	}
	if _, err := s.UpdateShard(ctx, "local", ShardChange{}); !errors.Is(err, ErrNotCluster) {
		t.Fatalf("set: %v", err)
	}
	if _, err := s.NodeList(ctx); !errors.Is(err, ErrNotCluster) {
		t.Fatalf("nodes: %v", err)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=secret":             "postgres://u@h/db?password=xxxxx",
		"host=h password=secret dbname=db":              "host=h password=xxxxx dbname=db",
		"host=h password='se cret' dbname=db":           "host=h password=xxxxx dbname=db",
		"postgres://u@h/db":                             "postgres://u@h/db",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestClusterAdministrationNoIndexer: a System opened for an administration command
// opens its shard stores without the background text indexer; a serving node's have it.
func TestClusterAdministrationNoIndexer(t *testing.T) {
	a, dirDSN, _ := twoShardCluster(t)
	b, err := Open(context.Background(), clusterConfig(t, dirDSN, "b"), obs.Discard(), Administration())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	for _, s := range []*System{a, b} {
		if _, err := s.Shards.Shard("s1"); err != nil {
			t.Fatal(err)
		}
	}
	if a.cluster.shards.noIndexer || !b.cluster.shards.noIndexer {
		t.Fatalf("noIndexer: serving node %v, administration %v; want false, true",
			a.cluster.shards.noIndexer, b.cluster.shards.noIndexer)
	}
}
