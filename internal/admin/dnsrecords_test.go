package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/dns"
	"mailgrid/internal/testkit/dnsserver"
)

// TestDNSRecords: the records of a domain, checked against a real DNS server on
// loopback that publishes some of them right, one wrong and leaves others out.
func TestDNSRecords(t *testing.T) {
	ctx := context.Background()
	keys := dkimkeys.OpenDir(t.TempDir(), dkimkeys.Options{})
	if _, err := keys.Rotate(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	recs, err := admin.DNSRecords(ctx, "Example.ORG", "mx.example.net", keys, "")
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]admin.DNSRecord{}
	for _, r := range recs {
		by[r.Purpose] = append(by[r.Purpose], r)
	}
	if len(by["dkim"]) != 2 || len(by["mx"]) != 1 || by["mx"][0].Zone != "example.org.\t3600\tIN\tMX\t10 mx.example.net." {
		t.Fatalf("records %+v", recs)
	}
	for _, r := range by["dkim"] {
		if !strings.HasSuffix(r.Name, "._domainkey.example.org") || !strings.HasPrefix(r.Value, "v=DKIM1;") {
			t.Errorf("dkim %+v", r)
		}
		for _, part := range strings.Split(strings.SplitN(r.Zone, "\t", 5)[4], `" "`) {
			if len(strings.Trim(part, `"`)) > 255 {
				t.Errorf("TXT string over 255 octets in %s", r.Zone)
			}
		}
	}

	srv := dnsserver.Start(t)
	srv.SetMX("example.org", "mx.example.net", 10)
	srv.SetTXT("example.org", "v=spf1 a -all", "google-site-verification=x")
	for _, r := range by["dkim"] {
		srv.SetTXT(r.Name, r.Value)
	}
	srv.SetA("mx.example.net", "192.0.2.25")
	srv.SetA("autoconfig.example.org", "192.0.2.25")
	srv.SetA("autodiscover.example.org", "192.0.2.99")
	checks := admin.CheckDNS(ctx, dns.New([]string{srv.Addr()}, 5*time.Second), recs)
	got := map[string]string{}
	for _, c := range checks {
		got[c.Name+" "+c.Type] = c.Status
	}
	want := map[string]string{
		"example.org MX":                 "ok",
		"example.org TXT":                "differs",
		"_dmarc.example.org TXT":         "missing",
		"autoconfig.example.org CNAME":   "ok",
		"autodiscover.example.org CNAME": "differs",
		"_imaps._tcp.example.org SRV":    "unchecked",
		"_mta-sts.example.org TXT":       "missing",
		by["dkim"][0].Name + " TXT":      "ok",
		by["dkim"][1].Name + " TXT":      "ok",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	for _, c := range checks {
		if c.Name == "example.org" && c.Type == "TXT" && (len(c.Found) != 1 || c.Found[0] != "v=spf1 a -all") {
			t.Errorf("spf found %q (other TXT records are not SPF)", c.Found)
		}
	}
}

// TestNodeRecords: A/AAAA round-robin for the MX host from the node registry's listener
// addresses (wildcards, loopback, private, link-local and non-addresses skipped, one
// record per distinct address), from cluster.public_addresses when the registry has none
// (private ones allowed there), and checked against a DNS server on loopback.
func TestNodeRecords(t *testing.T) {
	registered := []string{"0.0.0.0:25", "127.0.0.1:993", "192.0.2.10:25", "192.0.2.10:993", "[2001:db8::1]:993",
		"[::]:25", "10.0.0.5:25", "", "[fe80::1%eth0]:143", "198.51.100.7:465", "[::ffff:192.0.2.10]:110"}
	recs, err := admin.NodeRecords("MX.Example.NET", registered, []string{"203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	var zone []string
	for _, r := range recs {
		zone = append(zone, r.Zone)
		if r.Purpose != "node" || !strings.Contains(r.Note, "node registry") {
			t.Errorf("record %+v", r)
		}
	}
	want := []string{
		"mx.example.net.\t3600\tIN\tA\t192.0.2.10",
		"mx.example.net.\t3600\tIN\tA\t198.51.100.7",
		"mx.example.net.\t3600\tIN\tAAAA\t2001:db8::1",
	}
	if strings.Join(zone, "\n") != strings.Join(want, "\n") {
		t.Errorf("from the registry:\n%s\nwant\n%s", strings.Join(zone, "\n"), strings.Join(want, "\n"))
	}

	recs, err = admin.NodeRecords("mx.example.net", []string{"0.0.0.0:25", "[::]:993", "127.0.0.1:143"},
		[]string{"203.0.113.9", "10.1.2.3", "not-an-ip", "2001:db8::9"})
	if err != nil {
		t.Fatal(err)
	}
	zone = zone[:0]
	for _, r := range recs {
		zone = append(zone, r.Type+" "+r.Value)
		if !strings.Contains(r.Note, "cluster.public_addresses") {
			t.Errorf("note %q", r.Note)
		}
	}
	if got := strings.Join(zone, ", "); got != "A 10.1.2.3, A 203.0.113.9, AAAA 2001:db8::9" {
		t.Errorf("from the configuration: %s", got)
	}
	if _, err := admin.NodeRecords("not a host", nil, nil); err == nil {
		t.Error("a bad host name was accepted")
	}

	srv := dnsserver.Start(t)
	srv.SetA("mx.example.net", "203.0.113.9", "192.0.2.1")
	checks := admin.CheckDNS(context.Background(), dns.New([]string{srv.Addr()}, 5*time.Second), recs)
	var got []string
	for _, c := range checks {
		got = append(got, c.Value+" "+c.Status)
	}
	if s := strings.Join(got, ", "); s != "10.1.2.3 differs, 203.0.113.9 ok, 2001:db8::9 missing" {
		t.Errorf("checks: %s", s)
	}
}

// The _mta-sts TXT id names the policy in the mode the nodes serve: changing the mode
// changes the id (RFC 8461 3.1: senders refetch only when it changes).
func TestMTASTSIDFollowsMode(t *testing.T) {
	id := func(mode string) string {
		recs, err := admin.DNSRecords(context.Background(), "example.org", "mx.example.net", nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Name == "_mta-sts.example.org" {
				return r.Value
			}
		}
		t.Fatalf("no _mta-sts record in %v", recs)
		return ""
	}
	for _, mode := range []string{"testing", "enforce"} {
		sum := sha256.Sum256([]byte(admin.MTASTSPolicy("mx.example.net", mode)))
		if got, want := id(mode), "v=STSv1; id="+hex.EncodeToString(sum[:8]); got != want {
			t.Errorf("mode %s: TXT %q, want %q", mode, got, want)
		}
	}
	if id("") != id("testing") || id("enforce") == id("testing") {
		t.Errorf("ids: default %q testing %q enforce %q", id(""), id("testing"), id("enforce"))
	}
}
