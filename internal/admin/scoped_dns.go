package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/dns"
)

// DNSSource is what DNS records are computed from: the MX host (the node's hostname),
// the DKIM keys (nil: no DKIM records) and the resolver that checks publication (nil:
// no check), and the mode of the MTA-STS policy the nodes serve (http.mta_sts_mode; ""
// testing).
type DNSSource struct {
	Host       string
	Keys       dkimkeys.Keys
	Resolver   dns.Resolver
	MTASTSMode string
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
	dom, err := c.s.Dir.Domain(ctx, d)
	if err != nil {
		return nil, err
	}
	if dom.Name != d {
		return nil, fmt.Errorf("%w: domain %s", directory.ErrNotFound, d) // an alias domain: listed with its target
	}
	recs, err := DNSRecords(ctx, d, src.Host, src.Keys, src.MTASTSMode)
	if err != nil {
		return nil, err
	}
	return c.aliasDNSRecords(ctx, d, src.Host, recs)
}

// aliasDNSRecords appends the records of the alias domains of target (domains_lifecycle.go):
// MX to receive their mail, SPF and DMARC for what is sent as their addresses (their
// DKIM records come with a key of their own, when the keeper has one).
func (c *Scoped) aliasDNSRecords(ctx context.Context, target, host string, recs []DNSRecord) ([]DNSRecord, error) {
	st, ok := c.s.Dir.(directory.DomainAliasStore)
	if !ok {
		return recs, nil
	}
	as, err := st.DomainAliases(ctx, target)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		ar, err := DNSRecords(ctx, a.Name, host, nil, "") // MX, SPF and DMARC only
		if err != nil {
			return nil, err
		}
		for _, r := range ar {
			if r.Purpose == "mx" || r.Purpose == "spf" || r.Purpose == "dmarc" {
				r.Note = strings.TrimPrefix(r.Note+"; alias domain of "+target, "; ")
				recs = append(recs, r)
			}
		}
	}
	return recs, nil
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
