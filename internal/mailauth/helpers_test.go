package mailauth_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailgrid/internal/dns"
	"mailgrid/internal/testkit/dnsserver"
)

// TestMain checks that verification and signing (go-msgauth runs goroutines per
// signature and per signer) leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const lookupTimeout = 5 * time.Second

// newDNS starts a loopback DNS server and returns it with the real resolver pointed at it.
func newDNS(t testing.TB) (*dnsserver.Server, dns.Resolver) {
	t.Helper()
	srv := dnsserver.Start(t)
	return srv, dnsResolver(srv)
}

// dnsResolver returns the real resolver pointed at srv.
func dnsResolver(srv *dnsserver.Server) dns.Resolver {
	return dns.New([]string{srv.Addr()}, lookupTimeout)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newBody returns a Body over s: *bytes.Reader has the ReadAt and Size of store.Body.
func newBody(s string) *bytes.Reader { return bytes.NewReader([]byte(s)) }

func ip(s string) net.IP { return net.ParseIP(s) }

// fixedSample is a DMARC pct= sample that always draws n.
func fixedSample(n int) func() int { return func() int { return n } }
