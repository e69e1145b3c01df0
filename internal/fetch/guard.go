package fetch

// The address guard: a user names the remote host, so without it any webmail user could
// make the server open connections inside the operator's network (server-side request
// forgery). Unless Options.AllowPrivate, every address the host name resolves to is
// checked when the connection is made, and the connection goes to a checked IP address,
// never to the name again (a second lookup could answer differently: DNS rebinding).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrForbidden is a remote host that is, or resolves to, an address the server does not
// connect to for a user (Forbidden).
var ErrForbidden = errors.New("fetch: address not allowed")

// ForbiddenError names the refused host and address; errors.Is(err, ErrForbidden).
type ForbiddenError struct {
	Host string
	Addr netip.Addr
}

func (e *ForbiddenError) Error() string {
	a := e.Addr.String()
	if e.Host != a {
		a = e.Host + " resolves to " + a + ", which"
	}
	return fmt.Sprintf("refused: %s is a loopback, private, link-local or unspecified address; this server fetches only from public addresses", a)
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// shared is 100.64.0.0/10, the carrier-grade NAT space (RFC 6598 7): not on the Internet.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// Forbidden reports whether ip is an address the server does not connect to for a user:
// unspecified (0.0.0.0, ::) and "this network" 0.0.0.0/8 (RFC 1122 3.2.1.3), loopback
// (127.0.0.0/8, ::1), private (RFC 1918 3: 10/8, 172.16/12, 192.168/16; RFC 4193 unique
// local fc00::/7), shared 100.64/10 (RFC 6598), link-local (169.254/16 RFC 3927,
// fe80::/10 RFC 4291 2.5.6) and multicast. IPv4-mapped IPv6 addresses (RFC 4291 2.5.5.2)
// are judged as the IPv4 address they carry.
func Forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return true
	}
	if ip.Is4() && (ip.As4()[0] == 0 || shared.Contains(ip)) {
		return true
	}
	return false
}

// guarded wraps dial: addr's host is resolved with r (an IP literal is taken as is),
// every address is checked (one forbidden address refuses the host), and the checked
// addresses are dialled in turn until one answers.
func guarded(dial Dialer, r *net.Resolver) Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if ips, err = r.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
		for _, ip := range ips {
			if Forbidden(ip) {
				return nil, &ForbiddenError{Host: host, Addr: ip.Unmap()}
			}
		}
		var errs []error
		for _, ip := range ips {
			c, err := dial(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
}
