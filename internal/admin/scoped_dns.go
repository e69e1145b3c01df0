package admin

import (
	"context"
	"errors"

	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/dns"
)

// DNSSource is what DNS records are computed from: the MX host (the node's hostname),
// the DKIM keys (nil: no DKIM records) and the resolver that checks publication (nil:
// no check).
type DNSSource struct {
	Host     string
	Keys     dkimkeys.Keys
	Resolver dns.Resolver
}

// ErrNoResolver is returned by CheckDNS when no resolver is configured.
var ErrNoResolver = errors.New("no DNS resolver is configured here")

// DNSRecords returns the records a domain the actor administers should publish
// (DNSRecords). Reading them changes nothing and is not audited.
func (c *Scoped) DNSRecords(ctx context.Context, domain string, src DNSSource) ([]DNSRecord, error) {
	d, err := c.visibleDomain(domain)
	if err != nil {
		return nil, err
	}
	if _, err := c.s.Dir.Domain(ctx, d); err != nil {
		return nil, err
	}
	return DNSRecords(ctx, d, src.Host, src.Keys)
}

// CheckDNS returns the records with what the resolver says of each (CheckDNS).
func (c *Scoped) CheckDNS(ctx context.Context, domain string, src DNSSource) ([]DNSCheck, error) {
	recs, err := c.DNSRecords(ctx, domain, src)
	if err != nil {
		return nil, err
	}
	if src.Resolver == nil {
		return nil, ErrNoResolver
	}
	return CheckDNS(ctx, src.Resolver, recs), nil
}
