// Package dns is mailgrid's resolver interface. Everything that looks up DNS (MX for the
// outbound queue; SPF/DKIM/DMARC later) takes a Resolver, so tests point it at a real DNS
// server on loopback (internal/testkit) and production at the configured or system servers.
package dns

import (
	"context"
	"errors"
	"net"
)

// ErrNotFound is returned (wrapped) when the name does not exist (NXDOMAIN) or has no
// records of the asked type: a permanent condition. Other errors are temporary.
var ErrNotFound = errors.New("dns: no such record")

// Resolver looks up the records mail needs.
type Resolver interface {
	// LookupMX returns MX records sorted by preference (RFC 5321 5.1). A domain with no MX
	// returns ErrNotFound; the caller applies the implicit-MX rule.
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	// LookupIP returns A and AAAA addresses of host.
	LookupIP(ctx context.Context, host string) ([]net.IP, error)
	// LookupTXT returns TXT records of name.
	LookupTXT(ctx context.Context, name string) ([]string, error)
}
