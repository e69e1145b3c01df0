package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailgrid/internal/dns"
	"mailgrid/internal/testkit/dnsserver"
)

// TestMain checks that lookups (including timed-out ones) leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 5 * time.Second

func newResolver(t *testing.T) (*dnsserver.Server, dns.Resolver) {
	t.Helper()
	srv := dnsserver.Start(t)
	return srv, dns.New([]string{srv.Addr()}, testTimeout)
}

func TestLookupMXSorted(t *testing.T) {
	srv, r := newResolver(t)
	srv.SetMX("example.com", "mx30.example.com", 30)
	srv.SetMX("example.com", "mx10a.example.com", 10)
	srv.SetMX("example.com", "mx20.example.com", 20)
	srv.SetMX("example.com", "mx10b.example.com", 10)
	mxs, err := r.LookupMX(context.Background(), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mx := range mxs {
		got = append(got, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
	}
	if len(mxs) != 4 || mxs[0].Pref != 10 || mxs[1].Pref != 10 || mxs[2].Pref != 20 || mxs[3].Pref != 30 {
		t.Fatalf("MX order %v", got)
	}
	if mxs[2].Host != "mx20.example.com." {
		t.Fatalf("host %q", mxs[2].Host)
	}
}

// TestSortMXRandomisesEqualPreferences: RFC 5321 5.1, equal preferences in random order.
func TestSortMXRandomisesEqualPreferences(t *testing.T) {
	firsts := map[string]bool{}
	for i := 0; i < 200 && len(firsts) < 3; i++ {
		mxs := []*net.MX{{Host: "c", Pref: 20}, {Host: "a", Pref: 5}, {Host: "b", Pref: 5}, {Host: "d", Pref: 5}}
		dns.SortMX(mxs)
		if mxs[3].Host != "c" {
			t.Fatalf("pref 20 not last: %v", mxs[3])
		}
		firsts[mxs[0].Host] = true
	}
	if len(firsts) != 3 {
		t.Fatalf("equal preferences not randomised: first hosts seen %v", firsts)
	}
}

func TestNotFound(t *testing.T) {
	srv, r := newResolver(t)
	srv.SetA("only-a.example.com", "192.0.2.1")
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		lookup func() error
	}{
		{"MX NXDOMAIN", func() error { _, err := r.LookupMX(ctx, "nowhere.example"); return err }},
		{"A NXDOMAIN", func() error { _, err := r.LookupIP(ctx, "nowhere.example"); return err }},
		{"TXT NXDOMAIN", func() error { _, err := r.LookupTXT(ctx, "nowhere.example"); return err }},
		{"MX NODATA", func() error { _, err := r.LookupMX(ctx, "only-a.example.com"); return err }},
		{"TXT NODATA", func() error { _, err := r.LookupTXT(ctx, "only-a.example.com"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.lookup()
			if !errors.Is(err, dns.ErrNotFound) || dns.IsTemporary(err) {
				t.Fatalf("got %v, want ErrNotFound", err)
			}
		})
	}
}

func TestServFailIsTemporary(t *testing.T) {
	srv, r := newResolver(t)
	srv.SetMX("broken.example", "mx.broken.example", 10)
	srv.SetServFail("broken.example")
	_, err := r.LookupMX(context.Background(), "broken.example")
	var de *net.DNSError
	if err == nil || errors.Is(err, dns.ErrNotFound) || !dns.IsTemporary(err) || !errors.As(err, &de) {
		t.Fatalf("got %v, want a temporary *net.DNSError", err)
	}
	srv.Reset("broken.example")
	if _, err := r.LookupMX(context.Background(), "broken.example"); !errors.Is(err, dns.ErrNotFound) {
		t.Fatalf("after Reset: %v, want ErrNotFound", err)
	}
}

func TestLookupIP(t *testing.T) {
	srv, r := newResolver(t)
	srv.SetA("mx.example.com", "192.0.2.10", "2001:db8::10", "192.0.2.11")
	ips, err := r.LookupIP(context.Background(), "mx.example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"192.0.2.10": true, "192.0.2.11": true, "2001:db8::10": true}
	for _, ip := range ips {
		delete(want, ip.String())
	}
	if len(ips) != 3 || len(want) != 0 {
		t.Fatalf("got %v, missing %v", ips, want)
	}
}

// TestLookupTXT covers multi-string records (joined) and an answer too large for UDP,
// which the resolver must fetch again over TCP.
func TestLookupTXT(t *testing.T) {
	srv, r := newResolver(t)
	long := strings.Repeat("v=spf1 ip4:192.0.2.0/24 ", 20) + "-all" // > 255: two strings
	srv.SetTXT("example.com", long, "google-site-verification=abc")
	txts, err := r.LookupTXT(context.Background(), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(txts) != 2 || !(txts[0] == long || txts[1] == long) {
		t.Fatalf("got %q", txts)
	}
	var many []string
	for i := range 20 {
		many = append(many, fmt.Sprintf("record-%02d-%s", i, strings.Repeat("x", 100)))
	}
	srv.SetTXT("big.example.com", many...) // ~2.4 KB: truncated over UDP
	txts, err = r.LookupTXT(context.Background(), "big.example.com")
	if err != nil || len(txts) != len(many) {
		t.Fatalf("TCP fallback: %d records, %v", len(txts), err)
	}
}

// TestFailover: a dead first server costs one attempt; the lookup succeeds on the next.
func TestFailover(t *testing.T) {
	srv := dnsserver.Start(t)
	srv.SetMX("example.com", "mx.example.com", 10)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	r := dns.New([]string{dead, srv.Addr()}, testTimeout)
	mxs, err := r.LookupMX(context.Background(), "example.com")
	if err != nil || len(mxs) != 1 {
		t.Fatalf("got %v, %v", mxs, err)
	}
}

// TestTimeoutIsTemporary: a server that never answers gives a temporary error.
func TestTimeoutIsTemporary(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, never read
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pc.Close(); err != nil {
			t.Error(err)
		}
	})
	r := dns.New([]string{pc.LocalAddr().String()}, 300*time.Millisecond)
	_, err = r.LookupMX(context.Background(), "example.com")
	if err == nil || !dns.IsTemporary(err) {
		t.Fatalf("got %v, want a temporary error", err)
	}
}

// TestSystemResolver: no servers means the system resolver; localhost resolves from
// /etc/hosts without any network.
func TestSystemResolver(t *testing.T) {
	ips, err := dns.New(nil, testTimeout).LookupIP(context.Background(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		if ip.IsLoopback() {
			return
		}
	}
	t.Fatalf("localhost resolved to %v", ips)
}
