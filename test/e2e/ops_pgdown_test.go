package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/dnsserver"
	"mailgrid/internal/testkit/pgtest"
)

// queueItems is `mailgrid queue list --json`, the parts these tests read.
type queueItems []struct {
	Recipients []struct {
		LastReply string `json:"last_reply"`
	} `json:"recipients"`
}

// TestOpsShardDownUnderLoad: a cluster node's shard database (on a private PostgreSQL
// server; the directory stays up on the machine's) crashes while SMTP clients send to a
// user on it, and comes back. See opsDownUnderLoad.
func TestOpsShardDownUnderLoad(t *testing.T) {
	opsDownUnderLoad(t, false)
}

// TestOpsPostgresDownUnderLoad: the same with the directory (and so the outbound queue,
// the node registry and every login) on the crashing server too: all of the cluster's
// PostgreSQL is gone at once.
func TestOpsPostgresDownUnderLoad(t *testing.T) {
	opsDownUnderLoad(t, true)
}

// opsDownUnderLoad crashes the private PostgreSQL server holding the shard (and the
// directory, if directoryToo) under SMTP load and restarts it:
//
//   - Every SMTP transaction gets 250 or 4xx, never 5xx, and the node stays up.
//   - During the outage an IMAP login answers NO [UNAVAILABLE], a session opened before
//     it gets NO [UNAVAILABLE] or BYE (never BAD), and a POP3 login -ERR [SYS/TEMP]
//     (RFC 5530 3, RFC 3206 4).
//   - Mail another MTA (an embedded mailgrid node, a real retrying sender) relays during
//     the outage is refused with 4xx, stays in its queue and arrives once PostgreSQL is
//     back.
//   - When the server is back the node serves again on its own (no restart), and every
//     message acknowledged with 250 is in the mailbox exactly once, byte for byte.
func opsDownUnderLoad(t *testing.T, directoryToo bool) {
	requireTool(t, "python3")
	requireTool(t, "swaks")
	pg := newPGInstance(t, "pg")
	pg.Start()
	pg.Exec("postgres", "CREATE DATABASE mailgrid_s1")
	var dirDSN string
	if directoryToo {
		pg.Exec("postgres", "CREATE DATABASE mailgrid_dir")
		dirDSN = pg.DSN("mailgrid_dir")
	} else {
		dirDSN = pgtest.DSN(t)
	}

	opsCLI(t, dirDSN, "shard", "add", "s1", "--dsn", pg.DSN("mailgrid_s1"))
	n1 := NewClusterNode(t, "n1", dirDSN, NodeOptions{})
	StartAll(t, n1)
	d := dnsserver.Start(t)
	d.SetMX("example.test", "mx.example.test", 10)
	d.SetA("mx.example.test", "127.0.0.1")
	sender := NewNode(t, "sender", NodeOptions{DNS: d.Addr(), RemotePort: portOf(t, n1.SMTP),
		Extra: "[queue]\nfirst_retry = \"1s\"\nmax_retry_interval = \"2s\"\n"})
	sender.Start()
	n1.AddUser("alice@example.test", "alice-password")
	sender.AddUser("sam@sender.test", "sam-password")

	probe := startIMAPProbe(t, n1.IMAPS, "alice@example.test", "alice-password")
	if got := probe.Do("open"); got != "OK 0" {
		t.Fatalf("IMAP session before the outage: %q", got)
	}
	submitAs(t, sender, "sam@sender.test", "sam-password", "alice@example.test", "relayed before the outage")
	load := startSMTPLoad(n1.SMTP, "alice@example.test", "down", 4)
	loadStopped := false
	defer func() {
		if !loadStopped {
			load.Stop()
		}
	}()
	if !waitFor(60*time.Second, func() bool { return load.ackCount.Load() >= 40 }) {
		t.Fatalf("load before the outage: %s\n%s", load.summary(), n1.Output())
	}

	pg.Crash()
	ackedAtCrash := load.ackCount.Load()
	if !waitFor(30*time.Second, func() bool { return load.tempFail.Load() >= 20 }) {
		t.Fatalf("no temporary failures while the shard is down: %s\n%s", load.summary(), n1.Output())
	}
	for i := 0; i < 3; i++ {
		submitAs(t, sender, "sam@sender.test", "sam-password", "alice@example.test", fmt.Sprintf("relayed during the outage %d", i))
	}
	checkOutageAnswers(t, n1, probe)
	// The sender's queue was refused with 4xx and keeps the mail for a retry.
	if !waitFor(30*time.Second, func() bool {
		var items queueItems
		sender.JSON(&items, "queue", "list")
		return len(items) == 3 && strings.HasPrefix(items[0].Recipients[0].LastReply, "4")
	}) {
		t.Fatalf("the sender's queue does not hold 3 items deferred with 4xx:\n%s", sender.CLI("", "queue", "list"))
	}
	if !n1.nodeAlive() {
		t.Fatalf("node exited during the outage:\n%s", n1.Output())
	}

	pg.Start()
	if !waitFor(60*time.Second, func() bool { return load.ackCount.Load() >= ackedAtCrash+40 }) {
		t.Fatalf("the node does not accept mail again after PostgreSQL is back: %s\n%s", load.summary(), n1.Output())
	}
	load.Stop()
	loadStopped = true
	if !waitFor(60*time.Second, func() bool { return strings.TrimSpace(sender.CLI("", "queue", "list", "--json")) == "[]" }) {
		t.Fatalf("the sender's queue did not drain:\n%s", sender.CLI("", "queue", "list"))
	}

	load.mu.Lock()
	permanent := append([]string(nil), load.perm...)
	load.mu.Unlock()
	if len(permanent) > 0 {
		t.Errorf("%d permanent (5xx) replies, e.g. %s", len(permanent), permanent[0])
	}
	stored := n1.Mailbox("alice@example.test", "INBOX")
	tempButStored := load.checkStored(t, stored)
	relayed := map[string]int{}
	for _, m := range stored {
		if s := m.Header.Get("Subject"); strings.HasPrefix(s, "relayed ") {
			relayed[s]++
		}
	}
	if len(relayed) != 4 {
		t.Errorf("relayed messages stored: %v, want the 4 subjects once each", relayed)
	}
	for s, c := range relayed {
		if c != 1 {
			t.Errorf("%q stored %d times", s, c)
		}
	}
	// Fresh sessions see everything; the session of before the outage works again or
	// was closed (then it reconnects).
	if got, want := probe.Do("login"), fmt.Sprintf("OK %d", len(stored)); got != want {
		t.Errorf("IMAP login after the outage: %q, want %q", got, want)
	}
	if got := probe.Do("fetch"); !strings.HasPrefix(got, "OK ") && !strings.HasPrefix(got, "BYE") {
		t.Errorf("IMAP session of before the outage, after it: %q", got)
	}
	if got, want := pop3Login(t, n1.POP3S, "alice@example.test", "alice-password"), fmt.Sprintf("OK %d", len(stored)); got != want {
		t.Errorf("POP3 login after the outage: %q, want %q", got, want)
	}
	t.Logf("SMTP load: %s; %d stored (%d of them after a 4xx: their commit raced the crash)",
		load.summary(), len(stored), tempButStored)
}

// checkOutageAnswers: with the shard down, IMAP and POP3 answer with temporary errors.
func checkOutageAnswers(t *testing.T, n *Node, probe *imapProbe) {
	t.Helper()
	// RFC 5530 3: UNAVAILABLE is a temporary failure of a subsystem.
	if got := probe.Do("login"); !strings.HasPrefix(got, "NO ") || !strings.Contains(got, "[UNAVAILABLE]") {
		t.Errorf("IMAP login while the shard is down: %q, want NO [UNAVAILABLE]", got)
	}
	// A session selected before the outage: NOOP brings the messages delivered since
	// into its view (RFC 9051 6.1.2), FETCH reads their headers from the store. They fail
	// temporarily or the server closes the session; never BAD (the client did nothing
	// wrong) and never a crash.
	for _, cmd := range []string{"noop", "fetch"} {
		got := probe.Do(cmd)
		switch {
		case strings.HasPrefix(got, "NO ") && strings.Contains(got, "[UNAVAILABLE]"):
		case strings.HasPrefix(got, "BYE"):
		case cmd == "noop" && strings.HasPrefix(got, "OK"): // answered from the session's view
		default:
			t.Errorf("IMAP %s in a session of before the outage: %q", cmd, got)
		}
		t.Logf("IMAP %s in a session of before the outage, during it: %s", cmd, got)
	}
	// RFC 3206 4: SYS/TEMP, a problem that should go away.
	if got := pop3Login(t, n.POP3S, "alice@example.test", "alice-password"); !strings.Contains(got, "-ERR [SYS/TEMP]") {
		t.Errorf("POP3 login while the shard is down: %q, want -ERR [SYS/TEMP]", got)
	}
}
