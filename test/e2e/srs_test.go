package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/dnsserver"
)

// TestSRSAliasBetweenNodes: node A hosts example.test, whose alias fwd@ forwards to
// bob@remote.test on node B; carol@sender.test (also on B) writes to the alias through
// A's MX. B receives the copy with MAIL FROM SRS0=...@example.test, and B's SPF check
// of that sender passes (example.test authorises 127.0.0.1; sender.test does not, so
// without SRS it would fail). A bounce to the SRS address through A's MX reaches carol
// on B; a forged SRS address is refused with 550 5.1.1.
func TestSRSAliasBetweenNodes(t *testing.T) {
	d := dnsserver.Start(t)
	b := NewNode(t, "b", NodeOptions{DNS: d.Addr()})
	var p int
	if _, err := fmt.Sscan(b.SMTP[strings.LastIndexByte(b.SMTP, ':')+1:], &p); err != nil {
		t.Fatal(err)
	}
	a := NewNode(t, "a", NodeOptions{DNS: d.Addr(), RemotePort: p, Extra: "[filter]\nsrs_secret = \"e2e-srs-secret\"\n"})
	for _, dom := range []string{"remote.test", "sender.test"} {
		d.SetMX(dom, "mx.remote.test", 10)
	}
	d.SetA("mx.remote.test", "127.0.0.1")
	d.SetTXT("example.test", "v=spf1 ip4:127.0.0.1 -all")
	d.SetTXT("sender.test", "v=spf1 ip4:192.0.2.1 -all")
	b.Start()
	a.Start()
	a.AddUser("alice@example.test", "alice-password")
	a.CLI("", "alias", "add", "fwd@example.test", "bob@remote.test")
	b.AddUser("bob@remote.test", "bob-password")
	b.AddUser("carol@sender.test", "carol-password")

	out := swaks(t, "--to", "fwd@example.test", "--from", "carol@sender.test", "--server", a.SMTP,
		"--header", "Subject: via the alias")
	if !accepted(out) {
		t.Fatalf("A's MX did not accept:\n%s", out)
	}
	if !waitFor(30*time.Second, func() bool { return b.usedMessages("bob@remote.test") == 1 }) {
		t.Fatalf("not forwarded to B. A's log:\n%s", a.Output())
	}
	if err := b.Term(); err != nil {
		t.Fatal(err)
	}
	msgs := b.Mailbox("bob@remote.test", "INBOX")
	if len(msgs) != 1 {
		t.Fatalf("bob has %d messages", len(msgs))
	}
	m := msgs[0]
	rp := strings.Trim(m.Header.Get("Return-Path"), "<>")
	if !strings.HasPrefix(rp, "SRS0=") || !strings.HasSuffix(rp, "=sender.test=carol@example.test") {
		t.Fatalf("B saw MAIL FROM %q, want SRS0=...=sender.test=carol@example.test", rp)
	}
	if dt := m.Header.Get("Delivered-To"); dt != "fwd@example.test" {
		t.Errorf("Delivered-To %q", dt)
	}
	ar := strings.Join(m.Header.Values("Authentication-Results"), "\n")
	if !strings.Contains(ar, `spf=pass smtp.mailfrom="`+rp+`"`) {
		t.Fatalf("B's Authentication-Results %q, want spf=pass for example.test:\n%s", ar, m.Raw)
	}

	// The bounce B (or anyone) sends to the SRS address goes back to carol.
	b.Start()
	out = swaks(t, "--to", rp, "--from", "<>", "--server", a.SMTP, "--header", "Subject: Undelivered Mail Returned to Sender")
	if !accepted(out) {
		t.Fatalf("bounce to %s not accepted:\n%s", rp, out)
	}
	if !waitFor(30*time.Second, func() bool { return b.usedMessages("carol@sender.test") == 1 }) {
		t.Fatalf("bounce not returned to carol. A's log:\n%s", a.Output())
	}
	forged := strings.Replace(rp, "=carol@", "=mallory@", 1)
	bin := requireTool(t, "swaks")
	res, err := exec.Command(bin, "--to", forged, "--from", "<>", "--server", a.SMTP, "--timeout", "30").CombinedOutput()
	if err == nil || !strings.Contains(string(res), "550 5.1.1") {
		t.Fatalf("forged SRS address not refused with 550 5.1.1 (err %v):\n%s", err, res)
	}
}
