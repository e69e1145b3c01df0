package smtpclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"

	"mailgrid/internal/dns"
	"mailgrid/internal/queue"
)

// hop is one mail exchanger with its usable addresses.
type hop struct {
	name  string
	addrs []net.IP
}

// route resolves where mail for domain goes (RFC 5321 5.1).
func (c *Client) route(ctx context.Context, domain string) ([]hop, error) {
	mxs, err := c.opt.Resolver.LookupMX(ctx, domain)
	implicit := false
	switch {
	case errors.Is(err, dns.ErrNotFound):
		// RFC 5321 5.1: no MX records, the domain itself is the implicit MX.
		implicit = true
		mxs = []*net.MX{{Host: domain, Pref: 0}}
	case err != nil:
		return nil, tempErr("4.4.3", fmt.Sprintf("MX lookup for %s failed", domain), err)
	}
	if isNullMX(mxs) {
		// RFC 7505 3.2: a null MX means the domain accepts no mail.
		return nil, permErr("5.1.10", fmt.Sprintf("domain %s does not accept mail (null MX)", domain))
	}
	names, err := c.candidates(domain, mxs)
	if err != nil {
		return nil, err
	}
	var hops []hop
	var tempErrs, skipped []string
	for _, name := range names {
		ips, err := c.opt.Resolver.LookupIP(ctx, name)
		if err != nil {
			if !errors.Is(err, dns.ErrNotFound) {
				tempErrs = append(tempErrs, fmt.Sprintf("%s: %v", name, err))
			}
			continue
		}
		usable := usableAddrs(ips, implicit)
		if len(usable) < len(ips) {
			skipped = append(skipped, name)
		}
		if len(usable) > 0 {
			hops = append(hops, hop{name: name, addrs: usable})
		}
	}
	switch {
	case len(hops) > 0:
		return hops, nil
	case len(tempErrs) > 0:
		return nil, tempErr("4.4.3", "address lookup failed: "+strings.Join(tempErrs, "; "), nil)
	case len(skipped) > 0:
		return nil, permErr("5.4.4", fmt.Sprintf("no usable address for %s (loopback or unspecified addresses refused)", domain))
	}
	return nil, permErr("5.4.4", fmt.Sprintf("host or domain name not found: %s", strings.Join(names, ", ")))
}

// isNullMX reports the RFC 7505 null MX: a single MX whose exchange is the root.
func isNullMX(mxs []*net.MX) bool {
	return len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "")
}

// candidates orders MX host names by preference, shuffling equal preferences, and drops
// our own name with every less preferred host (RFC 5321 5.1).
func (c *Client) candidates(domain string, mxs []*net.MX) ([]string, error) {
	mxs = slices.Clone(mxs)
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var names []string
	for _, mx := range mxs {
		name := strings.ToLower(strings.TrimSuffix(mx.Host, "."))
		if name == "" {
			continue // a "." among real MX records is meaningless (RFC 7505 3)
		}
		if name == strings.ToLower(c.opt.Hostname) {
			if len(names) == 0 {
				return nil, permErr("5.4.6", fmt.Sprintf("mail for %s loops back to myself", domain))
			}
			break
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, permErr("5.4.4", fmt.Sprintf("no mail exchanger for %s", domain))
	}
	return names, nil
}

// usableAddrs drops addresses we must not connect to: unspecified ones always, loopback
// ones unless an MX record named the host explicitly.
func usableAddrs(ips []net.IP, implicit bool) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		if ip.IsUnspecified() || (implicit && ip.IsLoopback()) {
			continue
		}
		out = append(out, ip)
	}
	return out
}

func tempErr(enhanced, text string, err error) *queue.DeliveryError {
	if err != nil {
		text += ": " + err.Error()
	}
	return &queue.DeliveryError{Reply: queue.Reply{Enhanced: enhanced, Text: text}, Temporary: true, Err: err}
}

// permErr is a permanent failure decided here, not replied by a server (Code 0).
func permErr(enhanced, text string) *queue.DeliveryError {
	return &queue.DeliveryError{Reply: queue.Reply{Enhanced: enhanced, Text: text}}
}
