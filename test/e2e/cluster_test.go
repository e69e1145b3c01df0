package e2e

import (
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/dnsserver"
	"mailgrid/internal/testkit/pgtest"
)

type shardJSON struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Users  int64  `json:"users"`
	Bytes  int64  `json:"bytes"`
	Health string `json:"health"`
	DSN    string `json:"dsn"`
}

type nodeJSON struct {
	Name      string            `json:"name"`
	Addresses map[string]string `json:"addresses"`
	Version   string            `json:"version"`
	Down      bool              `json:"down"`
}

// TestCluster: three mailgrid processes on one PostgreSQL directory and two shard
// databases. Shards are added with the CLI and users created on node 1 are placed on
// both; the three nodes start at once and create one administrator. Mail delivered over
// SMTP on node 1 is pushed to an IMAP IDLE session on node 2 (LISTEN/NOTIFY on the
// shard); a flag set on node 2 is fetched on node 3; POP3 on node 3 retrieves and deletes.
// Then node 1 is killed with SIGKILL while it holds outbound mail (its remote MX is a
// black hole that never greets): once node 1's lease has expired, another node delivers
// the mail to the remote domain, exactly once, and node 1 shows down in `node list`.
func TestCluster(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	dirDSN, s1, s2 := pgtest.DSN(t), pgtest.DSN(t), pgtest.DSN(t)

	// The remote domain's MX: an embedded node, down until node 1 is killed. Node 1's
	// outbound port is a black hole; nodes 2 and 3 use the remote node's port.
	d := dnsserver.Start(t)
	d.SetMX("remote.test", "mx.remote.test", 10)
	d.SetA("mx.remote.test", "127.0.0.1")
	remote := NewNode(t, "remote", NodeOptions{})
	remote.AddUser("bob@remote.test", "bob-password")
	hole := startBlackHole(t)
	queueConf := "[queue]\nfirst_retry = \"1s\"\nmax_retry_interval = \"2s\"\nlease = \"4s\"\n"
	n1 := NewClusterNode(t, "n1", dirDSN, NodeOptions{DNS: d.Addr(), RemotePort: hole.port(), Extra: queueConf})
	n2 := NewClusterNode(t, "n2", dirDSN, NodeOptions{DNS: d.Addr(), RemotePort: portOf(t, remote.SMTP), Extra: queueConf})
	n3 := NewClusterNode(t, "n3", dirDSN, NodeOptions{DNS: d.Addr(), RemotePort: portOf(t, remote.SMTP), Extra: queueConf})

	n1.CLI("", "shard", "add", "s1", "--dsn", s1, "--capacity", "100")
	n1.CLI("", "shard", "add", "s2", "--dsn", s2, "--capacity", "100")
	if _, stderr, err := n1.TryCLI("", "shard", "add", "s3", "--dsn", "postgres://postgres@127.0.0.1:1/none?connect_timeout=2"); err == nil ||
		strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("unreachable shard: err %v, stderr %q", err, stderr)
	}

	StartAll(t, n1, n2, n3)
	checkClusterSetup(t, n1, n2, n3)

	// Deliver on node 1 while an IDLE session on node 2 waits.
	pushed := idleUntilExists(t, n2.IMAPS, "alice@example.test", "alice-password", func() {
		out := swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n1.SMTP,
			"--header", "Subject: across the cluster")
		if !accepted(out) {
			t.Errorf("node 1 did not accept:\n%s", out)
		}
	})
	if pushed != "* 1 EXISTS" {
		t.Fatalf("IDLE on node 2 got %q", pushed)
	}

	// Flags set on node 2 are seen on node 3.
	imapFlags(t, n2.IMAPS, "alice@example.test", "alice-password", "store", "1", `\Flagged`)
	if got := imapFlags(t, n3.IMAPS, "alice@example.test", "alice-password", "fetch"); !strings.Contains(got, "FLAGS 1 ") ||
		!strings.Contains(got, `\Flagged`) {
		t.Fatalf("node 3 fetched flags %q", got)
	}
	out, err := runPython(popScript, n3.POP3, "alice@example.test", "alice-password")
	if err != nil || strings.TrimSpace(out) != "Subject: across the cluster" {
		t.Fatalf("POP3 on node 3: %v\n%s", err, out)
	}
	if left := n1.usedMessages("alice@example.test"); left != 0 {
		t.Fatalf("%d messages left after POP3 DELE on node 3", left)
	}

	clusterQueueTakeover(t, []*Node{n1, n2, n3}, remote, hole)
}

// checkClusterSetup: the three nodes that started at once created one administrator;
// users added on node 1 are placed on both shards, and every node's CLI sees the shard and
// node registries.
func checkClusterSetup(t *testing.T, n1, n2, n3 *Node) {
	t.Helper()
	firsts := 0
	for _, n := range []*Node{n1, n2, n3} {
		firsts += strings.Count(n.Output(), "created the system administrator")
	}
	var users []struct {
		Address string `json:"address"`
		Role    string `json:"role"`
		Shard   string `json:"shard"`
	}
	n2.JSON(&users, "user", "list")
	if firsts != 1 || len(users) != 1 || users[0].Address != "admin@"+clusterHostname || users[0].Role != "system-admin" {
		t.Fatalf("first start of 3 nodes: %d announced an administrator; users %+v", firsts, users)
	}

	n1.AddUser("alice@example.test", "alice-password")
	n1.AddUser("carol@example.test", "carol-password")
	n3.JSON(&users, "user", "list")
	placed := map[string]int{}
	for _, u := range users {
		placed[u.Shard]++
	}
	if placed["s1"] == 0 || placed["s2"] == 0 || placed["s1"]+placed["s2"] != 3 {
		t.Fatalf("placement over the shards: %v (%+v)", placed, users)
	}
	var shards []shardJSON
	n2.JSON(&shards, "shard", "list")
	if len(shards) != 2 || shards[0].Users+shards[1].Users != 3 || shards[0].Health != "ok" || shards[1].Health != "ok" ||
		shards[0].Bytes <= 0 {
		t.Fatalf("shard list: %+v", shards)
	}
	var nodes []nodeJSON
	n3.JSON(&nodes, "node", "list")
	if len(nodes) != 3 || nodes[0].Name != "n1" || nodes[0].Down || nodes[0].Addresses["smtp"] != n1.SMTP || nodes[2].Version == "" {
		t.Fatalf("node list: %+v", nodes)
	}
}

// clusterQueueTakeover: outbound mail submitted on node 1 is stuck in node 1's delivery
// (black hole); node 1 is killed; another node delivers after the lease expired.
func clusterQueueTakeover(t *testing.T, ns []*Node, remote *Node, hole *blackHole) {
	t.Helper()
	n1, n2, n3 := ns[0], ns[1], ns[2]
	submit(t, n1, "bob@remote.test", "queued on node 1")
	submit(t, n1, "bob@remote.test", "queued on node 1 too")
	if !waitFor(30*time.Second, func() bool { return hole.conns.Load() > 0 }) {
		t.Fatalf("node 1 never tried its remote MX:\n%s", n1.Output())
	}
	n1.Kill() // mid-delivery: its lease stays in the queue until it expires
	remote.Start()
	if !waitFor(60*time.Second, func() bool { return remote.usedMessages("bob@remote.test") == 2 }) {
		t.Fatalf("bob has %d of 2 after node 1 died:\n%s\n%s", remote.usedMessages("bob@remote.test"), n2.Output(), n3.Output())
	}
	if !waitFor(10*time.Second, func() bool { return strings.TrimSpace(n2.CLI("", "queue", "list", "--json")) == "[]" }) {
		t.Fatalf("queue not empty:\n%s", n2.CLI("", "queue", "list"))
	}
	var nodes []nodeJSON
	if !waitFor(15*time.Second, func() bool { n3.JSON(&nodes, "node", "list"); return nodes[0].Down }) {
		t.Fatalf("killed node 1 not shown down: %+v", nodes)
	}
	if nodes[1].Down || nodes[2].Down {
		t.Fatalf("running nodes shown down: %+v", nodes)
	}
	// Had a node delivered twice, the copy would have arrived by now: the queue is empty.
	if got := remote.usedMessages("bob@remote.test"); got != 2 {
		t.Fatalf("bob has %d messages, want exactly 2", got)
	}
	for _, n := range []*Node{n2, n3} {
		if err := n.Term(); err != nil {
			t.Errorf("%v\n%s", err, n.Output())
		}
	}
}

// TestClusterCommandsOnSingleNode: on an embedded node, `shard list` shows the one local
// shard; the commands that need a cluster fail with one line and exit status 1.
func TestClusterCommandsOnSingleNode(t *testing.T) {
	n := NewNode(t, "single", NodeOptions{})
	n.AddUser("alice@example.test", "alice-password")
	var shards []shardJSON
	n.JSON(&shards, "shard", "list")
	if len(shards) != 1 || shards[0].Name != "local" || shards[0].Users != 1 || shards[0].Health != "ok" ||
		shards[0].State != "active" {
		t.Fatalf("shard list: %+v", shards)
	}
	for _, args := range [][]string{
		{"shard", "add", "s1", "--dsn", "postgres://postgres@127.0.0.1:5432/x"},
		{"shard", "set", "local", "--state", "draining"},
		{"shard", "failover", "local", "--dsn", "postgres://postgres@127.0.0.1:5432/x"},
		{"node", "list"},
	} {
		_, stderr, err := n.TryCLI("", args...)
		if err == nil || !strings.Contains(stderr, "[cluster] directory") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: err %v, stderr %q", args, err, stderr)
		}
	}
}
