package main

// The cluster figures (-cluster). First an embedded (SQLite) node as the baseline under
// the same machine load, then mailgrid nodes on one PostgreSQL server (the machine's,
// -pg) with a directory database and one or two shard databases created for the run
// (names mailgrid_bench_<random>_..., dropped afterwards). For each shape — 1 node and
// 1 shard, 2 and 3 nodes on 1 shard, 3 nodes on 2 shards — it measures SMTP acceptance of
// 4 KiB messages (sessions spread round-robin over the nodes' MX listeners; latency from
// the end of DATA to the 250, every message committed to its user's shard before it)
// and the mixed IMAP workload of imap.go (clients spread over the nodes' IMAPS
// listeners, logged in once). On one machine with 2 cores the nodes, the clients and
// PostgreSQL share the CPUs: these figures show the cost of the cluster shape, not a
// speed-up.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
)

// clusterShape is one measured layout.
type clusterShape struct {
	nodes, shards int
}

var clusterShapes = []clusterShape{{1, 1}, {2, 1}, {3, 1}, {3, 2}}

// runCluster measures every shape with fresh databases on the server at adminDSN.
func runCluster(bin, adminDSN, dnsAddr string, sessions, messages int, imapDur time.Duration) error {
	fmt.Printf("cluster: PostgreSQL %s\n", redactDSN(adminDSN))
	if err := runEmbeddedBaseline(bin, dnsAddr, sessions, messages, imapDur); err != nil {
		return fmt.Errorf("embedded baseline: %w", err)
	}
	for _, sh := range clusterShapes {
		if err := runClusterShape(bin, adminDSN, dnsAddr, sh, sessions, messages, imapDur); err != nil {
			return fmt.Errorf("%d nodes, %d shards: %w", sh.nodes, sh.shards, err)
		}
	}
	if err := runMove(bin, adminDSN, dnsAddr); err != nil { // move.go
		return fmt.Errorf("user move: %w", err)
	}
	return nil
}

// runEmbeddedBaseline runs the same two figures on an embedded (SQLite) node at the
// same time, so the cluster shapes are compared under the same machine load.
func runEmbeddedBaseline(bin, dnsAddr string, sessions, messages int, imapDur time.Duration) error {
	n, err := startNode(bin, dnsAddr, 25)
	if err != nil {
		return err
	}
	defer n.stop()
	users := make([]string, sessions)
	for i := range users {
		users[i] = fmt.Sprintf("user%d@bench.test", i)
	}
	if err := n.setup(users); err != nil {
		return err
	}
	fmt.Print("embedded (SQLite) baseline: ")
	runInbound(n, users, 4<<10, messages, sessions)
	fmt.Print("embedded (SQLite) baseline: ")
	runIMAPMixed(n.imaps, users, "bench-password", sessions, imapDur, loginOnce, n.sampleRSS)
	fmt.Printf("  load average %s\n", loadAvg())
	return nil
}

// runClusterShape creates the databases and nodes of one shape, runs the figures and
// removes everything it created.
func runClusterShape(bin, adminDSN, dnsAddr string, sh clusterShape, sessions, messages int, imapDur time.Duration) (err error) {
	prefix := "mailgrid_bench_" + strings.ToLower(rand.Text()[:10])
	names := []string{prefix + "_dir"}
	for i := 1; i <= sh.shards; i++ {
		names = append(names, fmt.Sprintf("%s_s%d", prefix, i))
	}
	dsns, err := createDatabases(adminDSN, names)
	defer func() { err = errors.Join(err, dropDatabases(adminDSN, names)) }()
	if err != nil {
		return err
	}
	nodes := make([]*node, sh.nodes)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	}()
	for i := range nodes {
		if nodes[i], err = writeClusterNode(bin, dsns[0], dnsAddr, fmt.Sprintf("n%d", i+1)); err != nil {
			return err
		}
	}
	for i := 1; i <= sh.shards; i++ {
		if err := nodes[0].cli("", "shard", "add", fmt.Sprintf("s%d", i), "--dsn", dsns[i]); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	users := make([]string, sessions)
	for i := range users {
		users[i] = fmt.Sprintf("user%d@bench.test", i)
	}
	if err := nodes[0].setup(users); err != nil {
		return err
	}
	name := fmt.Sprintf("cluster %d node(s), %d shard(s)", sh.nodes, sh.shards)
	runClusterInbound(name, nodes, users, 4<<10, messages, sessions)
	var imapAddrs []string
	for _, n := range nodes {
		imapAddrs = append(imapAddrs, n.imaps)
	}
	runClusterIMAP(name, imapAddrs, users, "bench-password", sessions, imapDur)
	return nil
}

// createDatabases creates the named databases and returns their DSNs.
func createDatabases(adminDSN string, names []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %w", redactDSN(adminDSN), err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	u, err := url.Parse(adminDSN)
	if err != nil {
		return nil, err
	}
	var dsns []string
	for _, name := range names {
		if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			return nil, fmt.Errorf("create database %s: %w", name, err)
		}
		u.Path = "/" + name
		dsns = append(dsns, u.String())
	}
	return dsns, nil
}

// dropDatabases drops the named databases (those that exist), ending their sessions.
func dropDatabases(adminDSN string, names []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.Background()) }()
	var errs []error
	for _, name := range names {
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// redactDSN hides a password in a DSN for printing.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

// writeClusterNode writes the configuration of cluster node name (MX and IMAPS only),
// resolving through the bench's DNS server at dnsAddr.
func writeClusterNode(bin, dirDSN, dnsAddr, name string) (*node, error) {
	dir, err := os.MkdirTemp("", "mailgrid-bench-"+name+"-")
	if err != nil {
		return nil, err
	}
	n := &node{bin: bin, dir: dir, mx: freeAddr(), imaps: freeAddr(), cfg: filepath.Join(dir, "mailgrid.toml")}
	cfg := fmt.Sprintf(`data = %q
hostname = "bench.mailgrid.test"
[listen]
smtp = %q
submission = ""
submissions = ""
imap = ""
imaps = %q
pop3 = ""
pop3s = ""
http = ""
managesieve = ""
[dns]
servers = [%q]
[smtp]
max_conns_per_ip = 200
[log]
level = "warn"
[cluster]
directory = %q
[node]
name = %q
`, filepath.Join(dir, "data"), n.mx, n.imaps, dnsAddr, dirDSN, name)
	if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return n, nil
}

// start runs the node and waits for its MX and IMAPS listeners.
func (n *node) start() error {
	n.cmd = exec.Command(n.bin, "serve", "--config", n.cfg)
	n.cmd.Env = append(os.Environ(), "MAILGRID_ADMIN_PASSWORD=bench-admin")
	n.cmd.Stdout, n.cmd.Stderr = os.Stderr, os.Stderr
	if err := n.cmd.Start(); err != nil {
		return err
	}
	for _, addr := range []string{n.mx, n.imaps} {
		up := false
		for i := 0; i < 600 && !up; i++ {
			if c, err := net.Dial("tcp", addr); err == nil {
				_ = c.Close()
				up = true
			} else {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !up {
			return fmt.Errorf("node %s did not listen on %s", n.cfg, addr)
		}
	}
	return nil
}

// runClusterInbound sends count messages of size bytes over sessions connections, session
// i to node i%len(nodes), and prints the figures with the peak RSS of each node.
func runClusterInbound(name string, nodes []*node, users []string, size, count, sessions int) {
	body := makeMessage(size)
	lat := make([]time.Duration, 0, count)
	var mu sync.Mutex
	var next, failed atomic.Int64
	var rss []func() int64
	for _, n := range nodes {
		rss = append(rss, n.sampleRSS())
	}
	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			c, err := smtp.Dial(nodes[s%len(nodes)].mx)
			if err != nil {
				log.Printf("dial: %v", err)
				failed.Add(1)
				return
			}
			defer c.Close()
			if err := c.Hello("bench.client"); err != nil {
				log.Printf("ehlo: %v", err)
				return
			}
			for next.Add(1) <= int64(count) {
				d, err := sendOne(c, "sender@client.bench", users[s%len(users)], body)
				if err != nil {
					failed.Add(1)
					log.Printf("send: %v", err)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
			_ = c.Quit()
		}(s)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var peaks []string
	var highest int64
	for i, stop := range rss {
		p := stop()
		highest = max(highest, p)
		peaks = append(peaks, fmt.Sprintf("n%d %d MiB", i+1, p>>20))
	}
	report(fmt.Sprintf("%s: inbound %d KiB, %d sessions", name, size>>10, sessions), len(lat), int(failed.Load()), elapsed, lat, highest)
	fmt.Printf("  peak RSS per node: %s; load average %s\n", strings.Join(peaks, ", "), loadAvg())
}

// runClusterIMAP runs the mixed IMAP workload (login once per client) for dur with
// clients connections, client i on addrs[i%len(addrs)], and prints the figures.
func runClusterIMAP(name string, addrs, users []string, pass string, clients int, dur time.Duration) {
	runs := make([]*mixedRun, len(addrs))
	for i, a := range addrs {
		runs[i] = &mixedRun{addr: a, pass: pass, users: users}
	}
	start := time.Now()
	for _, r := range runs {
		r.until = start.Add(dur)
	}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// client i of run i%len logs in as users[i%len(users)]: mixedRun.client
			// picks the user by its index, so pass i itself.
			runs[i%len(runs)].client(i)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var lat []time.Duration
	var cycles, failed int64
	for _, r := range runs {
		lat = append(lat, r.lat...)
		cycles += r.cycles.Load()
		failed += r.failed.Load()
	}
	fmt.Printf("%s: imap mixed, %d clients, login once: %d ops in %d cycles (%d failed) in %.1fs = %.0f ops/s; latency p50 %.1f ms, p99 %.1f ms\n",
		name, clients, len(lat), cycles, failed, elapsed.Seconds(), float64(len(lat))/elapsed.Seconds(),
		ms(pctile(lat, 0.5)), ms(pctile(lat, 0.99)))
	fmt.Printf("  load average %s\n", loadAvg())
}

// loadAvg is the machine's 1-minute load average (the other work sharing the CPUs with
// the nodes, the clients and PostgreSQL), "?" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}
