package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/testkit/dnsserver"
)

// TestDKIMSignedBetweenNodes: `mailgrid dkim rotate example.test` on A (running) prints
// the key records; they are published in the DNS both nodes use; a submission on A to
// bob@remote.test arrives on B with one DKIM-Signature per key and B's
// Authentication-Results says dkim=pass for example.test (B verified the signatures
// through the DNS, RFC 6376 6).
func TestDKIMSignedBetweenNodes(t *testing.T) {
	d := dnsserver.Start(t)
	b := NewNode(t, "b", NodeOptions{DNS: d.Addr()})
	var p int
	if _, err := fmt.Sscan(b.SMTP[strings.LastIndexByte(b.SMTP, ':')+1:], &p); err != nil {
		t.Fatal(err)
	}
	a := NewNode(t, "a", NodeOptions{DNS: d.Addr(), RemotePort: p})
	d.SetMX("remote.test", "mx.remote.test", 10)
	d.SetA("mx.remote.test", "127.0.0.1")
	b.Start()
	a.Start()
	a.AddUser("alice@example.test", "alice-password")
	b.AddUser("bob@remote.test", "bob-password")

	var recs []struct {
		Selector string `json:"selector"`
		Name     string `json:"name"`
		TXT      string `json:"txt"`
		Zone     string `json:"zone"`
		Active   bool   `json:"active"`
	}
	a.JSON(&recs, "dkim", "rotate", "example.test")
	if len(recs) != 2 || !recs[0].Active || !recs[1].Active {
		t.Fatalf("rotate printed %+v, want two active records (ed25519, rsa)", recs)
	}
	for _, r := range recs {
		if !strings.HasSuffix(r.Name, "._domainkey.example.test") || !strings.HasPrefix(r.Zone, r.Name+". IN TXT (") {
			t.Fatalf("record %+v", r)
		}
		d.SetTXT(r.Name, r.TXT)
	}
	if out := a.CLI("", "dkim", "show", "example.test"); !strings.Contains(out, recs[0].Zone) || !strings.Contains(out, recs[1].Zone) {
		t.Fatalf("dkim show does not print the zone records:\n%s", out)
	}

	submit(t, a, "bob@remote.test", "signed by example.test")
	if !waitFor(30*time.Second, func() bool { return b.usedMessages("bob@remote.test") == 1 }) {
		t.Fatalf("not delivered to B. A's log:\n%s", a.Output())
	}
	if err := b.Term(); err != nil {
		t.Fatal(err)
	}
	msgs := b.Mailbox("bob@remote.test", "INBOX")
	if len(msgs) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	sigs := m.Header.Values("DKIM-Signature")
	if len(sigs) != 2 {
		t.Fatalf("%d DKIM-Signature fields, want 2:\n%s", len(sigs), m.Raw)
	}
	for i, r := range recs {
		if !strings.Contains(strings.Join(sigs, "\n"), "s="+r.Selector+";") {
			t.Errorf("no signature with selector %s (record %d):\n%s", r.Selector, i, m.Raw)
		}
	}
	ar := strings.Join(m.Header.Values("Authentication-Results"), "\n")
	if strings.Count(ar, "dkim=pass") != 2 || !strings.Contains(ar, "header.d=example.test") || strings.Contains(ar, "dkim=fail") {
		t.Fatalf("Authentication-Results %q, want dkim=pass for both example.test signatures:\n%s", ar, m.Raw)
	}
}
