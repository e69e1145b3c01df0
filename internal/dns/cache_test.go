package dns_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/dns"
	"mailgrid/internal/testkit/dnsserver"
)

func TestCache(t *testing.T) {
	srv := dnsserver.Start(t)
	srv.SetTXT("a.test", "v=spf1 -all")
	now := time.Unix(1000, 0)
	c := dns.NewCache(dns.New([]string{srv.Addr()}, 5*time.Second), time.Minute, 30*time.Second, 0, func() time.Time { return now })
	ctx := context.Background()
	lookup := func(name string) ([]string, error) {
		t.Helper()
		return c.LookupTXT(ctx, name)
	}
	if txt, err := lookup("a.test"); err != nil || len(txt) != 1 {
		t.Fatalf("first lookup: %v %v", txt, err)
	}
	if _, err := lookup("missing.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	q := srv.Queries()
	srv.SetTXT("a.test", "v=spf1 +all") // changed on the server: the cache still answers
	srv.SetTXT("missing.test", "now here")
	if txt, _ := lookup("a.test"); txt[0] != "v=spf1 -all" {
		t.Fatalf("not cached: %v", txt)
	}
	if _, err := lookup("missing.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Fatalf("negative answer not cached: %v", err)
	}
	if srv.Queries() != q {
		t.Fatalf("cached lookups reached the server: %d queries, want %d", srv.Queries(), q)
	}
	now = now.Add(31 * time.Second) // the negative entry expires first
	if txt, err := lookup("missing.test"); err != nil || txt[0] != "now here" {
		t.Fatalf("after negTTL: %v %v", txt, err)
	}
	if txt, _ := lookup("a.test"); txt[0] != "v=spf1 -all" {
		t.Fatalf("positive entry expired early: %v", txt)
	}
	now = now.Add(30 * time.Second)
	if txt, _ := lookup("a.test"); txt[0] != "v=spf1 +all" {
		t.Fatalf("after ttl: %v", txt)
	}
	// Temporary failures are never cached.
	srv.SetServFail("broken.test")
	if _, err := lookup("broken.test"); err == nil || errors.Is(err, dns.ErrNotFound) {
		t.Fatalf("servfail: %v", err)
	}
	srv.Reset("broken.test")
	srv.SetTXT("broken.test", "ok")
	if txt, err := lookup("broken.test"); err != nil || txt[0] != "ok" {
		t.Fatalf("a SERVFAIL was cached: %v %v", txt, err)
	}
}
