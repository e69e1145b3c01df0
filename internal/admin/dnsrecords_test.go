package admin_test

import (
	"context"
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
	recs, err := admin.DNSRecords(ctx, "Example.ORG", "mx.example.net", keys)
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
