package dns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds one lookup (all attempts) when New is given no timeout.
const DefaultTimeout = 10 * time.Second

// New returns a Resolver. With no servers it uses the system resolver (net.DefaultResolver,
// which reads /etc/resolv.conf). Otherwise it uses Go's own stub resolver (PreferGo)
// dialling the given "host:port" servers in turn: each attempt Go makes goes to the next
// server, UDP first and TCP when a reply is truncated (RFC 7766 5). timeout bounds each
// lookup as a whole; <= 0 means DefaultTimeout.
//
// MX and TXT names are looked up as absolute (a trailing dot is added), so resolv.conf
// search domains never turn "example.com" into "example.com.corp.internal". Host names
// for LookupIP are passed as given, so /etc/hosts entries (which the C library matches
// only without the dot) still apply; a name with a dot is tried as absolute first anyway.
func New(servers []string, timeout time.Duration) Resolver {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	r := &resolver{timeout: timeout}
	if len(servers) == 0 {
		r.net = net.DefaultResolver
		return r
	}
	d := &dialer{servers: slices.Clone(servers), timeout: timeout}
	r.net = &net.Resolver{PreferGo: true, Dial: d.dial}
	return r
}

type resolver struct {
	net     *net.Resolver
	timeout time.Duration
}

// dialer sends Go's resolver to the configured servers instead of resolv.conf's.
type dialer struct {
	servers []string
	timeout time.Duration
	next    atomic.Uint32 // round robin across attempts: a dead server costs one attempt
}

func (d *dialer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	i := int(d.next.Add(1)-1) % len(d.servers)
	nd := net.Dialer{Timeout: d.timeout}
	return nd.DialContext(ctx, network, d.servers[i])
}

// LookupMX implements Resolver. Records are sorted by preference with equal preferences
// in random order (RFC 5321 5.1). A null MX (RFC 7505: one record, host ".") is returned
// as it is; the caller refuses delivery for it.
func (r *resolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	mxs, err := r.net.LookupMX(ctx, absolute(domain))
	// Go filters out records with invalid host names and reports an error beside the
	// valid rest: use the rest.
	if err != nil && len(mxs) == 0 {
		return nil, lookupError("MX", domain, err)
	}
	if len(mxs) == 0 {
		return nil, fmt.Errorf("dns: MX %s: %w", domain, ErrNotFound)
	}
	SortMX(mxs)
	return mxs, nil
}

// SortMX orders MX records by preference, shuffling records of equal preference
// (RFC 5321 5.1: "the sender-SMTP MUST randomize them to spread the load").
func SortMX(mxs []*net.MX) {
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
}

// LookupIP implements Resolver: A and AAAA records of host.
func (r *resolver) LookupIP(ctx context.Context, host string) ([]net.IP, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ips, err := r.net.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, lookupError("A/AAAA", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("dns: A/AAAA %s: %w", host, ErrNotFound)
	}
	return ips, nil
}

// LookupTXT implements Resolver. The character-strings of one record are concatenated
// (RFC 7208 3.3), one string per record.
func (r *resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	txts, err := r.net.LookupTXT(ctx, absolute(name))
	if err != nil {
		return nil, lookupError("TXT", name, err)
	}
	if len(txts) == 0 {
		return nil, fmt.Errorf("dns: TXT %s: %w", name, ErrNotFound)
	}
	return txts, nil
}

// absolute makes name fully qualified, so no search domain is appended.
func absolute(name string) string {
	if name == "" || strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// lookupError wraps err; NXDOMAIN and "no records of this type" also wrap ErrNotFound
// (a permanent answer), everything else (SERVFAIL, timeout, refused) stays temporary.
func lookupError(typ, name string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return fmt.Errorf("dns: %s %s: %w: %w", typ, name, ErrNotFound, err)
	}
	return fmt.Errorf("dns: %s %s: %w", typ, name, err)
}

// IsTemporary reports whether a lookup error may go away on retry: any error that is not
// ErrNotFound (RFC 5321 4.5.4.1: a DNS failure is a transient condition).
func IsTemporary(err error) bool {
	return err != nil && !errors.Is(err, ErrNotFound)
}
