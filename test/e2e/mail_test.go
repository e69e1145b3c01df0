package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/dnsserver"
)

// waitFor polls cond every 100 ms for up to limit; it reports whether cond became true.
func waitFor(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// usedMessages is the message count of an account as the CLI reports it.
func (n *Node) usedMessages(addr string) int64 {
	var u []struct {
		UsedMessages int64 `json:"used_messages"`
	}
	n.JSON(&u, "user", "show", addr)
	return u[0].UsedMessages
}

// finalReply matches swaks' transcript line of the reply to the end of data.
var finalReply = regexp.MustCompile(`(?m)^ *[-~]> \.\r?\n *<[-~]  (\d{3}) `)

// accepted reports whether the message in a swaks transcript got a 250 after DATA.
func accepted(transcript string) bool {
	m := finalReply.FindStringSubmatch(transcript)
	return m != nil && m[1] == "250"
}

// swaks runs swaks and returns its transcript; it fails the test when swaks fails.
func swaks(t *testing.T, args ...string) string {
	t.Helper()
	bin := requireTool(t, "swaks")
	out, err := exec.Command(bin, append([]string{"--timeout", "30"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestInboundWithSwaks: the first scenario, with swaks against the binary.
func TestInboundWithSwaks(t *testing.T) {
	n := NewNode(t, "in", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")
	out := swaks(t, "--to", "alice@example.test", "--from", "someone@elsewhere.test", "--server", n.SMTP,
		"--header", "Subject: hello from swaks")
	if !accepted(out) {
		t.Fatalf("no 250 from the MX:\n%s", out)
	}
	if got := n.usedMessages("alice@example.test"); got != 1 {
		t.Fatalf("alice has %d messages, want 1", got)
	}
	// Relay attempt: refused, nothing queued.
	bin := requireTool(t, "swaks")
	relay, err := exec.Command(bin, "--to", "victim@remote.test", "--from", "x@elsewhere.test", "--server", n.SMTP, "--timeout", "30").CombinedOutput()
	if err == nil || !strings.Contains(string(relay), "5.7.1") {
		t.Fatalf("relay not refused with 5.7.1 (err %v):\n%s", err, relay)
	}
	if q := n.CLI("", "queue", "list", "--json"); strings.TrimSpace(q) != "[]" {
		t.Fatalf("relay attempt queued something: %s", q)
	}
	if err := n.Term(); err != nil {
		t.Fatal(err)
	}
	msgs := n.Mailbox("alice@example.test", "INBOX")
	if len(msgs) != 1 || msgs[0].Header.Get("Subject") != "hello from swaks" {
		t.Fatalf("stored: %+v", msgs)
	}
	if rp := msgs[0].Header.Get("Return-Path"); rp != "<someone@elsewhere.test>" {
		t.Errorf("Return-Path %q", rp)
	}
	if !strings.Contains(msgs[0].Header.Get("Received"), "by in.mailgrid.test") {
		t.Errorf("Received %q", msgs[0].Header.Get("Received"))
	}
	// The filter chain ran: SPF/DKIM/DMARC results for elsewhere.test (no records in the
	// test DNS: spf=none, dmarc=none) under our authserv-id (RFC 8601).
	if ar := msgs[0].Header.Get("Authentication-Results"); !strings.HasPrefix(ar, "in.mailgrid.test;") ||
		!strings.Contains(ar, "spf=none") || !strings.Contains(ar, "dmarc=none") {
		t.Errorf("Authentication-Results %q", ar)
	}
}

// twoNodes starts node A (the sender's) and node B (remote.test's MX), with a DNS server
// that points remote.test at B and A's outbound port at B's MX listener.
func twoNodes(t *testing.T, extraA string) (a, b *Node) {
	t.Helper()
	d := dnsserver.Start(t)
	b = NewNode(t, "b", NodeOptions{})
	port := b.SMTP[strings.LastIndexByte(b.SMTP, ':')+1:]
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		t.Fatal(err)
	}
	a = NewNode(t, "a", NodeOptions{DNS: d.Addr(), RemotePort: p, Extra: extraA})
	d.SetMX("remote.test", "mx.remote.test", 10)
	d.SetA("mx.remote.test", "127.0.0.1")
	b.Start()
	a.Start()
	a.AddUser("alice@example.test", "alice-password")
	b.AddUser("bob@remote.test", "bob-password")
	return a, b
}

// submit sends one message through A's submission port with swaks (STARTTLS + AUTH).
func submit(t *testing.T, a *Node, to, subject string) {
	t.Helper()
	out := swaks(t, "--to", to, "--from", "alice@example.test", "--server", a.Submission, "--tls",
		"--auth", "PLAIN", "--auth-user", "alice@example.test", "--auth-password", "alice-password",
		"--header", "Subject: "+subject)
	if !accepted(out) {
		t.Fatalf("submission not accepted:\n%s", out)
	}
}

// TestOutboundBetweenNodes: submission on A, MX lookup through the DNS server, delivery
// to B; a 5xx from B returns one DSN to the sender's INBOX.
func TestOutboundBetweenNodes(t *testing.T) {
	a, b := twoNodes(t, "")
	submit(t, a, "bob@remote.test", "across the wire")
	if !waitFor(30*time.Second, func() bool { return b.usedMessages("bob@remote.test") == 1 }) {
		t.Fatalf("not delivered to B. A's log:\n%s", a.Output())
	}
	submit(t, a, "nobody@remote.test", "to a user B does not have")
	if !waitFor(30*time.Second, func() bool { return a.usedMessages("alice@example.test") == 1 }) {
		t.Fatalf("no DSN in alice's INBOX. A's log:\n%s", a.Output())
	}
	time.Sleep(time.Second) // a second DSN would arrive now
	if err := a.Term(); err != nil {
		t.Fatal(err)
	}
	msgs := a.Mailbox("alice@example.test", "INBOX")
	if len(msgs) != 1 {
		t.Fatalf("alice has %d messages, want exactly one DSN", len(msgs))
	}
	dsn := msgs[0]
	if !strings.Contains(dsn.Header.Get("Content-Type"), "multipart/report") ||
		!strings.Contains(dsn.Raw, "Action: failed") || !strings.Contains(dsn.Raw, "nobody@remote.test") ||
		!strings.Contains(dsn.Raw, "5.1.1") {
		t.Fatalf("not a failure DSN for nobody@remote.test:\n%s", dsn.Raw)
	}
	if dsn.Header.Get("Return-Path") != "<>" {
		t.Errorf("DSN Return-Path %q, want <>", dsn.Header.Get("Return-Path"))
	}
}

// TestOutboundRetryAfter4xx: B's mailbox is full (452), A retries; after the quota is
// raised the message arrives.
func TestOutboundRetryAfter4xx(t *testing.T) {
	a, b := twoNodes(t, "[queue]\nfirst_retry = \"1s\"\nmax_retry_interval = \"2s\"\n")
	b.CLI("", "user", "quota", "bob@remote.test", "--messages", "1")
	swaks(t, "--to", "bob@remote.test", "--from", "x@elsewhere.test", "--server", b.SMTP) // fills bob's mailbox
	submit(t, a, "bob@remote.test", "deferred then delivered")
	if !waitFor(30*time.Second, func() bool {
		var items []struct {
			Recipients []struct {
				LastReply string `json:"last_reply"`
			} `json:"recipients"`
		}
		a.JSON(&items, "queue", "list")
		return len(items) == 1 && strings.HasPrefix(items[0].Recipients[0].LastReply, "452")
	}) {
		t.Fatalf("no 452 recorded in A's queue:\n%s", a.CLI("", "queue", "list"))
	}
	b.CLI("", "user", "quota", "bob@remote.test", "--messages", "0")
	if !waitFor(30*time.Second, func() bool { return b.usedMessages("bob@remote.test") == 2 }) {
		t.Fatalf("not delivered after the quota was raised:\n%s", a.CLI("", "queue", "list"))
	}
	if !waitFor(10*time.Second, func() bool { return strings.TrimSpace(a.CLI("", "queue", "list", "--json")) == "[]" }) {
		t.Fatalf("queue not empty after delivery:\n%s", a.CLI("", "queue", "list"))
	}
	if a.usedMessages("alice@example.test") != 0 {
		t.Fatal("a delay must not bounce")
	}
}

// TestQueueSurvivesKill: with B down, mail waits in A's queue; A is killed with SIGKILL
// and restarted after B is back: everything is delivered exactly once.
func TestQueueSurvivesKill(t *testing.T) {
	a, b := twoNodes(t, "[queue]\nfirst_retry = \"1s\"\nmax_retry_interval = \"2s\"\n")
	if err := b.Term(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		submit(t, a, "bob@remote.test", fmt.Sprintf("queued %d", i))
	}
	var items []json0
	a.JSON(&items, "queue", "list")
	if len(items) != 3 {
		t.Fatalf("queue holds %d items, want 3", len(items))
	}
	a.Kill()
	b.Start()
	a.Start()
	if !waitFor(60*time.Second, func() bool { return b.usedMessages("bob@remote.test") == 3 }) {
		t.Fatalf("bob has %d of 3 after A's restart:\n%s", b.usedMessages("bob@remote.test"), a.Output())
	}
	time.Sleep(2 * time.Second) // a duplicate would arrive now
	if got := b.usedMessages("bob@remote.test"); got != 3 {
		t.Fatalf("bob has %d messages, want exactly 3", got)
	}
}

type json0 = map[string]any
