package mailauth

import (
	"context"
	"errors"
	"net"
	"strings"

	"mailgrid/internal/dns"
)

// spfResolver adapts dns.Resolver to the interface blitiri.com.ar/go/spf calls
// (spf.DNSResolver). That library classifies errors by asserting *net.DNSError, so every
// error is translated: dns.ErrNotFound becomes IsNotFound (a void lookup, RFC 7208 4.6.4,
// and "none" for a missing record), anything else IsTemporary (temperror, RFC 7208 5).
type spfResolver struct{ r dns.Resolver }

func (a spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := a.r.LookupTXT(ctx, name)
	return txts, netError(name, err)
}

func (a spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mxs, err := a.r.LookupMX(ctx, name)
	return mxs, netError(name, err)
}

// LookupIPAddr looks the host up as an absolute name: SPF targets are always fully
// qualified (RFC 7208 4.3), so no resolv.conf search domain may be appended.
func (a spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if host != "" && !strings.HasSuffix(host, ".") {
		host += "."
	}
	ips, err := a.r.LookupIP(ctx, host)
	if err != nil {
		return nil, netError(host, err)
	}
	addrs := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		addrs[i] = net.IPAddr{IP: ip}
	}
	return addrs, nil
}

// LookupAddr is the PTR lookup of the deprecated "ptr" mechanism (RFC 7208 5.5: "SHOULD
// NOT be published"). dns.Resolver has no PTR lookup, so it reports a plain DNS error,
// which the library treats as "mechanism does not match" (RFC 7208 5.5: any DNS error
// there means no match) without counting a void lookup.
func (a spfResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, &net.DNSError{Err: "PTR lookups are not supported", Name: addr}
}

// txtLookup returns the lookup function go-msgauth's DKIM verifier calls, bound to ctx.
// Its verifier treats a net.Error with Temporary() as a temporary failure and any other
// error as permanent ("no key for signature", RFC 6376 6.1.2).
func txtLookup(ctx context.Context, r dns.Resolver) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := r.LookupTXT(ctx, name)
		return txts, netError(name, err)
	}
}

// netError translates a dns.Resolver error into the *net.DNSError the libraries expect.
func netError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dns.ErrNotFound):
		return &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	default:
		return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	}
}
