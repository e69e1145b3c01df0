package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/pgtest"
)

// TestOpsShardFailover is the pair-backup exercise of docs/operations.md ("Failing over
// a shard") with two private PostgreSQL servers: a primary holding shard s1 and a
// streaming-replication standby made with pg_basebackup -R, synchronous
// (synchronous_standby_names), so a commit returns only once the standby has flushed it.
// Two cluster nodes serve the shard's user while SMTP clients send to node 1.
//
//   - `shard failover` to the standby while it is still in recovery is refused and
//     changes nothing.
//   - The primary crashes; deliveries get 4xx; the standby is promoted (pg_ctl promote)
//     and `mailgrid shard failover s1 --dsn STANDBY` repoints the shard.
//   - Both nodes switch without a restart: node 1 accepts mail again, node 2 serves IMAP
//     and POP3 from the promoted standby, and an IDLE session on node 2 is told of mail
//     delivered on node 1 (LISTEN/NOTIFY on the new server).
//   - Every message acknowledged with 250, before and after the switch, is on the
//     promoted standby exactly once, byte for byte.
func TestOpsShardFailover(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	dirDSN := pgtest.DSN(t)
	primary := newPGInstance(t, "primary")
	primary.Start()
	primary.Exec("postgres", "CREATE DATABASE mailgrid_s1")
	standby := primary.Standby("s1_standby")
	standby.Start()
	primary.MakeSynchronous(standby)

	opsCLI(t, dirDSN, "shard", "add", "s1", "--dsn", primary.DSN("mailgrid_s1"))
	n1 := NewClusterNode(t, "n1", dirDSN, NodeOptions{})
	n2 := NewClusterNode(t, "n2", dirDSN, NodeOptions{})
	StartAll(t, n1, n2)
	n1.AddUser("alice@example.test", "alice-password")

	probe := startIMAPProbe(t, n2.IMAPS, "alice@example.test", "alice-password")
	if got := probe.Do("open"); got != "OK 0" {
		t.Fatalf("IMAP session on node 2: %q", got)
	}
	load := startSMTPLoad(n1.SMTP, "alice@example.test", "failover", 4)
	loadStopped := false
	defer func() {
		if !loadStopped {
			load.Stop()
		}
	}()
	if !waitFor(60*time.Second, func() bool { return load.ackCount.Load() >= 60 }) {
		t.Fatalf("load before the failover: %s\n%s", load.summary(), n1.Output())
	}

	// A standby still in recovery is read-only: the store's schema check fails and the
	// registry keeps the primary.
	if _, stderr, err := n1.TryCLI("", "shard", "failover", "s1", "--dsn", standby.DSN("mailgrid_s1")); err == nil {
		t.Fatalf("failover to a standby in recovery was accepted (stderr %q)", stderr)
	}
	if got := shardDSN(t, n2, "s1"); got != primary.DSN("mailgrid_s1") {
		t.Fatalf("a refused failover changed the shard's DSN to %q", got)
	}

	primary.Crash()
	crashed := time.Now()
	ackedAtCrash := load.ackCount.Load()
	if !waitFor(30*time.Second, func() bool { return load.tempFail.Load() >= 10 }) {
		t.Fatalf("no temporary failures with the primary down: %s", load.summary())
	}
	standby.Promote()
	out := n1.CLI("", "shard", "failover", "s1", "--dsn", standby.DSN("mailgrid_s1"))
	switched := time.Now()
	t.Logf("mailgrid shard failover:\n%s", out)
	// Measured, not asserted: how long node 1 answered 4xx.
	if waitFor(60*time.Second, func() bool { return load.ackCount.Load() > ackedAtCrash }) {
		t.Logf("first 250 %v after the failover command, %v after the primary crashed",
			time.Since(switched).Round(10*time.Millisecond), time.Since(crashed).Round(10*time.Millisecond))
	}

	if !waitFor(60*time.Second, func() bool { return load.ackCount.Load() >= ackedAtCrash+60 }) {
		t.Fatalf("node 1 does not accept mail after the failover: %s\n%s", load.summary(), n1.Output())
	}
	load.Stop()
	loadStopped = true
	// Each node sees the new DSN at its next registry refresh (node 2 may not have
	// needed the shard yet): wait for it, bounded.
	for _, n := range []*Node{n1, n2} {
		if !waitFor(30*time.Second, func() bool { return strings.Contains(n.Output(), "shard reopens on next use") }) {
			t.Errorf("%s did not log the switch to the new DSN", n.Name)
		}
	}
	// Node 2 takes mail too, and serves IMAP and POP3 from the promoted standby.
	if out := swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n2.SMTP,
		"--header", "Subject: after the failover"); !accepted(out) {
		t.Fatalf("node 2 did not accept after the failover:\n%s", out)
	}

	load.mu.Lock()
	permanent := append([]string(nil), load.perm...)
	load.mu.Unlock()
	if len(permanent) > 0 {
		t.Errorf("%d permanent (5xx) replies, e.g. %s", len(permanent), permanent[0])
	}
	var shards []shardJSON
	n2.JSON(&shards, "shard", "list")
	if len(shards) != 1 || shards[0].DSN != standby.DSN("mailgrid_s1") || shards[0].Health != "ok" || shards[0].Users != 2 { // alice and the administrator
		t.Fatalf("shard list after the failover: %+v", shards)
	}
	stored := n2.Mailbox("alice@example.test", "INBOX") // through the registry: the promoted standby
	tempButStored := load.checkStored(t, stored)
	after := 0
	for _, m := range stored {
		if m.Header.Get("Subject") == "after the failover" {
			after++
		}
	}
	if after != 1 {
		t.Errorf("%d copies of the message sent to node 2 after the failover", after)
	}
	if got, want := probe.Do("login"), fmt.Sprintf("OK %d", len(stored)); got != want {
		t.Errorf("IMAP login on node 2 after the failover: %q, want %q", got, want)
	}
	if got, want := pop3Login(t, n2.POP3S, "alice@example.test", "alice-password"), fmt.Sprintf("OK %d", len(stored)); got != want {
		t.Errorf("POP3 login on node 2 after the failover: %q, want %q", got, want)
	}
	// Notifications run through the promoted standby too: an IDLE session on node 2 hears
	// of a message delivered on node 1 (LISTEN/NOTIFY on the new server).
	pushed := idleUntilExists(t, n2.IMAPS, "alice@example.test", "alice-password", func() {
		if out := swaks(t, "--to", "alice@example.test", "--from", "x@elsewhere.test", "--server", n1.SMTP,
			"--header", "Subject: pushed after the failover"); !accepted(out) {
			t.Errorf("node 1 did not accept:\n%s", out)
		}
	})
	if want := fmt.Sprintf("* %d EXISTS", len(stored)+1); pushed != want {
		t.Errorf("IDLE on node 2 after the failover: %q, want %q", pushed, want)
	}
	if v, err := standby.Query("postgres", "SELECT pg_is_in_recovery()::text"); err != nil || v != "false" {
		t.Errorf("promoted standby in recovery: %q %v", v, err)
	}
	t.Logf("SMTP load: %s; %d acknowledged before the crash; %d stored on the promoted standby (%d after a 4xx)",
		load.summary(), ackedAtCrash, len(stored), tempButStored)
}

// shardDSN is the DSN of shard name in `shard list --json` (the JSON carries it whole:
// the test DSNs have no password to mask).
func shardDSN(t *testing.T, n *Node, name string) string {
	t.Helper()
	var shards []shardJSON
	n.JSON(&shards, "shard", "list")
	for _, s := range shards {
		if s.Name == name {
			return s.DSN
		}
	}
	t.Fatalf("shard %s not listed: %+v", name, shards)
	return ""
}
