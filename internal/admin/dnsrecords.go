package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/dns"
	"mailgrid/internal/mail"
)

// DNSRecord is one record a hosted domain should publish for mail to work and to pass
// the receivers' checks.
type DNSRecord struct {
	Purpose string `json:"purpose"` // mx, spf, dkim, dmarc, autoconfig, srv, mta-sts, node
	Name    string `json:"name"`    // owner name, fully qualified, no final dot
	Type    string `json:"type"`    // MX, TXT, CNAME, SRV, A, AAAA
	Value   string `json:"value"`   // as in a zone file (TXT unquoted)
	Zone    string `json:"zone"`    // the record as a zone file line
	Note    string `json:"note,omitempty"`
}

// DNSCheck is what the resolver says about one DNSRecord.
type DNSCheck struct {
	DNSRecord
	// Status: "ok" (published as shown), "differs" (a record of that kind is published
	// with another value: Found), "missing", "error" (the lookup failed: Found says
	// why), "unchecked" (a type the resolver cannot ask for: SRV).
	Status string   `json:"status"`
	Found  []string `json:"found,omitempty"`
}

// MTASTSPolicy is the MTA-STS policy (RFC 8461 3.2) for a domain whose MX is host, in
// mode: "testing" (also when mode is not given or ""): receivers report failures but
// still deliver; "enforce": they deliver only over TLS to a matching MX with a valid
// certificate; "none": the policy is withdrawn. The web front-end serves it at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt (web/wellknown.go); the _mta-sts TXT
// id is derived from the same text, so both change together.
func MTASTSPolicy(host string, mode ...string) string {
	m := "testing"
	if len(mode) > 0 && mode[0] != "" {
		m = mode[0]
	}
	return "version: STSv1\r\nmode: " + m + "\r\nmx: " + host + "\r\nmax_age: 604800\r\n"
}

// DNSRecords returns the records domain should publish when its mail is served by host
// (the node's hostname; every node of a cluster answers for every domain): MX, SPF
// (RFC 7208: only the MX hosts send), one TXT per published DKIM key (keys: RFC 6376
// 3.6.2.1), DMARC (RFC 7489, p=quarantine with aggregate reports to postmaster),
// autoconfig and autodiscover names for mail clients, SRV records for client
// discovery (RFC 6186, RFC 8314 5.1) and MTA-STS (RFC 8461 3.1, the policy id derived
// from the policy served in stsMode (MTASTSPolicy), so it changes only when the policy
// does).
func DNSRecords(ctx context.Context, domain, host string, keys dkimkeys.Keys, stsMode string) ([]DNSRecord, error) {
	d, err := mail.ParseDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", domain, err)
	}
	h, err := mail.ParseDomain(host)
	if err != nil {
		return nil, fmt.Errorf("host %q: %w", host, err)
	}
	sum := sha256.Sum256([]byte(MTASTSPolicy(h, stsMode)))
	recs := []DNSRecord{
		rec("mx", d, "MX", "10 "+h+".", ""),
		rec("spf", d, "TXT", "v=spf1 mx -all", "only the MX hosts send for the domain"),
	}
	if keys != nil {
		dk, err := keys.Records(ctx, d)
		if err != nil {
			return nil, err
		}
		for _, k := range dk {
			note := "active, signs"
			if k.Until != nil {
				note = "retired, keep until " + k.Until.UTC().Format("2006-01-02")
			}
			recs = append(recs, rec("dkim", k.Name, "TXT", k.TXT, string(k.Algorithm)+" "+note))
		}
	}
	recs = append(recs,
		rec("dmarc", "_dmarc."+d, "TXT", "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@"+d, ""),
		rec("autoconfig", "autoconfig."+d, "CNAME", h+".", "Thunderbird autoconfig"),
		rec("autoconfig", "autodiscover."+d, "CNAME", h+".", "Outlook autodiscover"),
		rec("srv", "_submissions._tcp."+d, "SRV", "0 1 465 "+h+".", "RFC 8314 5.1"),
		rec("srv", "_imaps._tcp."+d, "SRV", "0 1 993 "+h+".", "RFC 6186"),
		rec("srv", "_pop3s._tcp."+d, "SRV", "10 1 995 "+h+".", "RFC 6186"),
		rec("mta-sts", "_mta-sts."+d, "TXT", "v=STSv1; id="+hex.EncodeToString(sum[:8]), "RFC 8461; policy at https://mta-sts."+d+"/.well-known/mta-sts.txt"),
		rec("mta-sts", "mta-sts."+d, "CNAME", h+".", "serves the MTA-STS policy over HTTPS"),
	)
	return recs, nil
}

// NodeRecords returns the A and AAAA records of host that spread clients over the
// cluster's nodes by round-robin DNS: every node serves every service for every domain,
// so each of its addresses is a valid answer for host, the name MX, SRV and autoconfig
// records point to. One record per distinct public address, IPv4 then IPv6, in address
// order. registered are the live nodes' addresses from the node registry (listener
// addresses: "192.0.2.10:25", "[2001:db8::1]:993"); configured (cluster.public_addresses)
// is used when the registry has none a client elsewhere could reach: nodes usually
// listen on wildcard (0.0.0.0, ::), loopback or private addresses behind a load balancer
// or NAT. Unspecified, loopback, link-local and multicast addresses are never published.
func NodeRecords(host string, registered, configured []string) ([]DNSRecord, error) {
	h, err := mail.ParseDomain(host)
	if err != nil {
		return nil, fmt.Errorf("host %q: %w", host, err)
	}
	ips := publicIPs(registered, false)
	note := "round-robin over the nodes (node registry)"
	if len(ips) == 0 {
		ips = publicIPs(configured, true)
		note = "round-robin over the nodes (cluster.public_addresses)"
	}
	var out []DNSRecord
	for _, ip := range ips {
		typ := "AAAA"
		if ip.Is4() {
			typ = "A"
		}
		out = append(out, rec("node", h, typ, ip.String(), note))
	}
	return out, nil
}

// publicIPs extracts the distinct addresses clients elsewhere could use from addrs
// (addresses, or host:port pairs); private ones (RFC 1918, RFC 4193) count only when
// configured, where the operator says they are the ones to publish (an internal zone).
func publicIPs(addrs []string, configured bool) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		ip, err := netip.ParseAddr(strings.Trim(a, "[]"))
		if err != nil {
			ap, perr := netip.ParseAddrPort(a)
			if perr != nil {
				continue // "", a host name, a Unix socket: not an address to publish
			}
			ip = ap.Addr()
		}
		ip = ip.Unmap().WithZone("")
		if ip.IsUnspecified() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() ||
			(ip.IsPrivate() && !configured) {
			continue
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int {
		if a.Is4() != b.Is4() {
			if a.Is4() {
				return -1
			}
			return 1
		}
		return a.Compare(b)
	})
	return slices.Compact(out)
}

func rec(purpose, name, typ, value, note string) DNSRecord {
	v := value
	if typ == "TXT" {
		v = quoteTXT(value)
	}
	return DNSRecord{Purpose: purpose, Name: name, Type: typ, Value: value, Note: note,
		Zone: name + ".\t3600\tIN\t" + typ + "\t" + v}
}

// quoteTXT writes a TXT value as zone-file strings of at most 255 octets (RFC 1035
// 3.3.14, RFC 6376 3.6.2.2 for long keys).
func quoteTXT(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " ")
}

// CheckDNS asks the resolver for each record and compares.
func CheckDNS(ctx context.Context, r dns.Resolver, recs []DNSRecord) []DNSCheck {
	out := make([]DNSCheck, len(recs))
	for i, rc := range recs {
		out[i] = checkOne(ctx, r, rc)
	}
	return out
}

func checkOne(ctx context.Context, r dns.Resolver, rc DNSRecord) DNSCheck {
	c := DNSCheck{DNSRecord: rc}
	switch rc.Type {
	case "MX":
		mxs, err := r.LookupMX(ctx, rc.Name)
		if lookupFailed(&c, err) {
			return c
		}
		want := strings.TrimSuffix(strings.Fields(rc.Value)[1], ".")
		for _, mx := range mxs {
			c.Found = append(c.Found, fmt.Sprintf("%d %s", mx.Pref, mx.Host))
			if strings.EqualFold(strings.TrimSuffix(mx.Host, "."), want) {
				c.Status = "ok"
			}
		}
	case "TXT":
		txts, err := r.LookupTXT(ctx, rc.Name)
		if lookupFailed(&c, err) {
			return c
		}
		prefix, _, _ := strings.Cut(rc.Value, ";")
		prefix = strings.Fields(prefix)[0] // v=spf1, v=DKIM1, v=DMARC1, v=STSv1
		for _, t := range txts {
			if !strings.HasPrefix(strings.ToLower(t), strings.ToLower(prefix)) {
				continue
			}
			c.Found = append(c.Found, t)
			if sameTXT(t, rc.Value) {
				c.Status = "ok"
			}
		}
	case "A", "AAAA":
		got, err := r.LookupIP(ctx, rc.Name)
		if lookupFailed(&c, err) {
			return c
		}
		for _, ip := range got {
			if (ip.To4() != nil) != (rc.Type == "A") {
				continue
			}
			c.Found = append(c.Found, ip.String())
			if ip.Equal(net.ParseIP(rc.Value)) {
				c.Status = "ok"
			}
		}
	case "CNAME":
		// The resolver has no CNAME lookup: the name must reach the same addresses.
		got, err := r.LookupIP(ctx, rc.Name)
		if lookupFailed(&c, err) {
			return c
		}
		want, err := r.LookupIP(ctx, strings.TrimSuffix(rc.Value, "."))
		if err != nil {
			c.Status, c.Found = "error", []string{"target: " + err.Error()}
			return c
		}
		for _, ip := range got {
			c.Found = append(c.Found, ip.String())
		}
		if len(got) > 0 && sameIPs(got, want) {
			c.Status = "ok"
		}
	default:
		c.Status = "unchecked"
		return c
	}
	if c.Status == "" {
		c.Status = "missing"
		if len(c.Found) > 0 {
			c.Status = "differs"
		}
	}
	return c
}

// lookupFailed records a failed lookup; "no such record" is a missing one.
func lookupFailed(c *DNSCheck, err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, dns.ErrNotFound) {
		c.Status = "missing"
		return true
	}
	c.Status, c.Found = "error", []string{err.Error()}
	return true
}

// sameTXT compares TXT values ignoring white space around the tag separators.
func sameTXT(a, b string) bool {
	norm := func(s string) string {
		parts := strings.Split(s, ";")
		for i, p := range parts {
			parts[i] = strings.Join(strings.Fields(p), " ")
		}
		return strings.TrimSuffix(strings.Join(parts, ";"), ";")
	}
	return norm(a) == norm(b)
}

func sameIPs(a, b []net.IP) bool {
	str := func(l []net.IP) []string {
		var out []string
		for _, ip := range l {
			out = append(out, ip.String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(str(a), str(b))
}
