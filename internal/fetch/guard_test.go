package fetch_test

// The address guard (SSRF): by default no connection to loopback, private, link-local or
// unspecified addresses, whether named as an IP or by a name that resolves to one (a real
// DNS server on loopback answers), for Test, Fetch and the schedule; allowed with
// AllowPrivate.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"mailgrid/internal/fetch"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/testkit/dnsserver"
	"mailgrid/internal/testkit/linetest"
)

func TestForbiddenAddresses(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "127.9.9.9", "::1", "0.0.0.0", "::", "0.1.2.3", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "100.64.0.1", "fc00::1", "fd12:3456::1", "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"224.0.0.1", "ff02::1"} {
		if !fetch.Forbidden(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{"192.0.2.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "2a00:1450::1"} {
		if fetch.Forbidden(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
}

// guardWorld is a world whose fetcher has the guard on, resolves names with a real DNS
// server on loopback and records what it dials (refused dials never reach it).
type guardWorld struct {
	*world
	dns    *dnsserver.Server
	mu     sync.Mutex
	dialed []string
}

func newGuardWorld(t *testing.T) *guardWorld {
	w := &guardWorld{world: newWorld(t, 0), dns: dnsserver.Start(t)}
	var d net.Dialer
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, w.dns.Addr())
	}}
	f, err := fetch.New(fetch.Options{Store: w.fs, Deliver: fetch.StoreDeliverer{Dir: w.Dir, Shards: w.Shards}, Node: "n1",
		Resolver: r, Timeout: linetest.Deadline, Now: w.clock.Now,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			w.mu.Lock()
			w.dialed = append(w.dialed, addr)
			w.mu.Unlock()
			return nil, errors.New("test dialer: no route")
		}})
	if err != nil {
		t.Fatal(err)
	}
	w.f = f
	return w
}

func TestFetchGuardRefusesPrivate(t *testing.T) {
	w := newGuardWorld(t)
	w.send(t, 1, 1)
	w.dns.SetA("loop.evil.test", "127.0.0.1")
	w.dns.SetA("mixed.evil.test", "192.0.2.7", "10.0.0.7")
	w.dns.SetA("meta.evil.test", "169.254.169.254")
	for _, host := range []string{"127.0.0.1", "loop.evil.test", "mixed.evil.test", "meta.evil.test", "10.0.0.1", "::1", "0.0.0.0"} {
		a := w.add(t, true, fetch.TLSStartTLS, remotePass)
		a.Host = host
		if err := w.fs.Update(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		_, err := w.f.Test(t.Context(), a, remotePass)
		if !errors.Is(err, fetch.ErrForbidden) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("Test %s: %v", host, err)
		}
		if _, err := w.fetch(t, a); !errors.Is(err, fetch.ErrForbidden) {
			t.Errorf("Fetch %s: %v", host, err)
		}
		got, err := w.fs.Get(t.Context(), a.Owner, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got.LastError, "refused") || !strings.Contains(got.LastError, "public addresses") {
			t.Errorf("recorded error for %s: %q", host, got.LastError)
		}
		if err := w.fs.Delete(t.Context(), a.Owner, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The schedule: a due account to a name resolving to loopback is refused and recorded.
	a := w.add(t, true, fetch.TLSStartTLS, remotePass)
	a.Host = "loop.evil.test"
	if err := w.fs.Update(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	w.f.RunDue(t.Context())
	got, err := w.fs.Get(t.Context(), a.Owner, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastRun.IsZero() || !strings.Contains(got.LastError, "loop.evil.test resolves to 127.0.0.1") {
		t.Fatalf("scheduled run: %+v", got)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.dialed) != 0 {
		t.Fatalf("dialled despite the guard: %v", w.dialed)
	}
	if n := len(w.Messages(t, w.local, folder)); n != 0 {
		t.Fatalf("%d messages fetched", n)
	}
}

// TestFetchGuardDialsCheckedIP: a public name is dialled at the address that was checked,
// not looked up again.
func TestFetchGuardDialsCheckedIP(t *testing.T) {
	w := newGuardWorld(t)
	w.dns.SetA("pop.public.test", "192.0.2.7")
	a := w.add(t, true, fetch.TLSImplicit, remotePass)
	a.Host, a.Port = "pop.public.test", 995
	_, err := w.f.Test(t.Context(), a, remotePass)
	if err == nil || errors.Is(err, fetch.ErrForbidden) || !fetch.IsRemote(err) {
		t.Fatalf("Test of a public host: %v", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.dialed) != 1 || w.dialed[0] != "192.0.2.7:995" {
		t.Fatalf("dialled %v", w.dialed)
	}
}

// TestFetchAllowPrivate: with the key, a loopback server is reached by IP and by a name.
func TestFetchAllowPrivate(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 2)
	dns := dnsserver.Start(t)
	dns.SetA("loop.allowed.test", "127.0.0.1")
	var d net.Dialer
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, dns.Addr())
	}}
	// Without TLS (loopback only) to our server allowing it, dialled for real.
	plain, err := pop3server.New(pop3server.Options{Hostname: "pop.remote.test", Directory: w.Dir, Shards: w.Shards, AllowInsecureAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(linetest.Serve(t, plain))
	p, _ := strconv.Atoi(port)
	resolving := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := r.LookupNetIP(ctx, "ip4", host)
		if err != nil {
			return nil, err
		}
		return d.DialContext(ctx, network, net.JoinHostPort(ips[0].String(), port))
	}
	for _, allow := range []bool{false, true} {
		f, err := fetch.New(fetch.Options{Store: w.fs, Deliver: fetch.StoreDeliverer{Dir: w.Dir, Shards: w.Shards}, Node: "n1",
			AllowPrivate: allow, Resolver: r, Dial: resolving, Timeout: linetest.Deadline, Now: w.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		a := w.add(t, true, fetch.TLSNone, remotePass)
		a.Port = p
		n, err := f.Test(t.Context(), a, remotePass)
		if allow != (err == nil) || (allow && n != 2) || (!allow && !errors.Is(err, fetch.ErrForbidden)) {
			t.Fatalf("allow=%v: Test 127.0.0.1: %d %v", allow, n, err)
		}
		a.Host, a.TLS = "loop.allowed.test", fetch.TLSStartTLS
		if _, err := f.Test(t.Context(), a, remotePass); allow == errors.Is(err, fetch.ErrForbidden) {
			t.Fatalf("allow=%v: Test by name: %v", allow, err)
		}
	}
}
