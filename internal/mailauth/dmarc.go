package mailauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"mailgrid/internal/dns"
)

// DMARCPolicy is a requested handling of failing mail (RFC 7489 6.3 p=, sp=).
type DMARCPolicy string

// Policies, in increasing strength.
const (
	PolicyNone       DMARCPolicy = "none"
	PolicyQuarantine DMARCPolicy = "quarantine"
	PolicyReject     DMARCPolicy = "reject"
)

// DMARCResult is the DMARC evaluation of a message (RFC 7489 6.6).
type DMARCResult struct {
	// Status is pass (an aligned SPF or DKIM pass), fail, none (no policy published),
	// temperror (a DNS failure kept us from a verdict) or permerror (an unusable record,
	// or no single RFC5322.From domain).
	Status       Status
	FromDomain   string // the RFC5322.From domain (RFC 7489 3.1)
	PolicyDomain string // where the record was found: FromDomain or its organizational domain
	// Policy is the policy that applies: sp= when the record came from the organizational
	// domain of a subdomain and has one, else p= (RFC 7489 6.3, 6.6.3).
	Policy DMARCPolicy
	// Disposition is what to do with this message: PolicyNone for pass, else Policy,
	// lowered one step when pct= sampling left the message out (RFC 7489 6.6.4).
	Disposition DMARCPolicy
	Percent     int  // pct=, 100 when absent
	SPFAligned  bool // an SPF pass whose domain aligns with FromDomain (RFC 7489 3.1.2)
	DKIMAligned bool // a DKIM pass whose d= aligns with FromDomain (RFC 7489 3.1.1)
	Reason      string
	// ReportAggregate and ReportFailure are the rua= and ruf= URIs, for reporting later.
	ReportAggregate, ReportFailure []string
}

// DMARCParams is the input of one DMARC evaluation.
type DMARCParams struct {
	Resolver   dns.Resolver
	FromDomain string // the RFC5322.From domain, ASCII, lower case
	SPF        SPFResult
	DKIM       []DKIMResult
	// Sample returns a number in [0, 100) for pct= sampling (RFC 7489 6.6.4); nil uses a
	// random number. Tests pass a fixed one.
	Sample func() int
}

// OrgDomain returns the organizational domain of domain (RFC 7489 3.2): the public
// suffix plus one label, per golang.org/x/net/publicsuffix. A domain that is itself a
// public suffix (or not a valid name) is its own organizational domain.
func OrgDomain(domain string) string {
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// Aligned reports whether an authenticated domain aligns with the From domain
// (RFC 7489 3.1): strict mode needs the same name, relaxed mode the same organizational
// domain.
func Aligned(authDomain, fromDomain string, strict bool) bool {
	a := strings.TrimSuffix(strings.ToLower(authDomain), ".")
	f := strings.TrimSuffix(strings.ToLower(fromDomain), ".")
	if a == "" || f == "" {
		return false
	}
	if strict {
		return a == f
	}
	return OrgDomain(a) == OrgDomain(f)
}

// EvaluateDMARC discovers the policy of p.FromDomain (RFC 7489 6.6.3: _dmarc.<From
// domain>, then _dmarc.<organizational domain>) and checks identifier alignment.
func EvaluateDMARC(ctx context.Context, p DMARCParams) DMARCResult {
	res := DMARCResult{FromDomain: p.FromDomain, Percent: 100}
	rec, where, err := lookupDMARC(ctx, p.Resolver, p.FromDomain)
	switch {
	case errors.Is(err, errNoDMARC):
		res.Status, res.Reason = StatusNone, "no DMARC record"
		return res
	case errors.Is(err, errDMARCRecord):
		res.Status, res.Reason = StatusPermError, err.Error()
		return res
	case err != nil:
		res.Status, res.Reason = StatusTempError, err.Error()
		return res
	}
	res.PolicyDomain = where
	res.Policy = DMARCPolicy(rec.Policy)
	if where != p.FromDomain && rec.SubdomainPolicy != "" {
		res.Policy = DMARCPolicy(rec.SubdomainPolicy) // RFC 7489 6.3 sp=
	}
	if rec.Percent != nil {
		res.Percent = *rec.Percent
	}
	res.ReportAggregate, res.ReportFailure = rec.ReportURIAggregate, rec.ReportURIFailure
	temp := checkAlignment(&res, p, rec)
	switch {
	case res.SPFAligned || res.DKIMAligned:
		res.Status, res.Disposition = StatusPass, PolicyNone
	case temp:
		// No aligned pass, but one might have passed without the DNS failure: never a
		// permanent verdict on a temporary error.
		res.Status, res.Disposition = StatusTempError, PolicyNone
		res.Reason = "no aligned pass; an aligned identifier failed temporarily"
	default:
		res.Status, res.Disposition = StatusFail, disposition(res.Policy, res.Percent, p.Sample)
		res.Reason = fmt.Sprintf("no aligned SPF or DKIM pass; p=%s", res.Policy)
	}
	return res
}

// checkAlignment sets SPFAligned and DKIMAligned and reports whether an identifier that
// aligns had a temporary error.
func checkAlignment(res *DMARCResult, p DMARCParams, rec *dmarc.Record) (temp bool) {
	// RFC 7489 4.1: SPF authenticates the MAIL FROM domain, or the HELO domain when the
	// reverse path is null (which CheckSPF's mailfrom result already is).
	if Aligned(p.SPF.Domain, p.FromDomain, rec.SPFAlignment == dmarc.AlignmentStrict) {
		res.SPFAligned = p.SPF.Status == StatusPass
		temp = p.SPF.Status == StatusTempError
	}
	for _, d := range p.DKIM {
		if !Aligned(d.Domain, p.FromDomain, rec.DKIMAlignment == dmarc.AlignmentStrict) {
			continue
		}
		res.DKIMAligned = res.DKIMAligned || d.Status == StatusPass
		temp = temp || d.Status == StatusTempError
	}
	return temp
}

// disposition applies pct= (RFC 7489 6.6.4): a message outside the sample gets the next
// lower policy (reject becomes quarantine, quarantine becomes none).
func disposition(policy DMARCPolicy, pct int, sample func() int) DMARCPolicy {
	if pct >= 100 || policy == PolicyNone {
		return policy
	}
	if sample == nil {
		sample = randomPercent
	}
	if sample() < pct {
		return policy
	}
	if policy == PolicyReject {
		return PolicyQuarantine
	}
	return PolicyNone
}

var (
	errNoDMARC     = errors.New("dmarc: no record")
	errDMARCRecord = errors.New("dmarc: invalid record")
)

// randomPercent is the default pct= sample.
func randomPercent() int { return rand.IntN(100) }

// lookupDMARC finds the DMARC record for domain (RFC 7489 6.6.3) and where it was found.
func lookupDMARC(ctx context.Context, r dns.Resolver, domain string) (*dmarc.Record, string, error) {
	rec, err := lookupDMARCAt(ctx, r, domain)
	if !errors.Is(err, errNoDMARC) {
		return rec, domain, err
	}
	org := OrgDomain(domain)
	if org == domain {
		return nil, "", err
	}
	rec, err = lookupDMARCAt(ctx, r, org)
	return rec, org, err
}

// lookupDMARCAt reads the record at _dmarc.<domain>. TXT records not starting with
// "v=DMARC1" are discarded; none or more than one left means no policy (RFC 7489 6.6.3
// steps 3 and 4). A record that does not parse is a permerror.
func lookupDMARCAt(ctx context.Context, r dns.Resolver, domain string) (*dmarc.Record, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if errors.Is(err, dns.ErrNotFound) {
		return nil, errNoDMARC
	}
	if err != nil {
		return nil, err
	}
	var recs []string
	for _, t := range txts {
		v, _, _ := strings.Cut(t, ";")
		if stripFWS(v) == "v=DMARC1" { // RFC 7489 6.4: %x44 %x4d %x41 %x52 %x43 %x31
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, errNoDMARC
	}
	rec, err := dmarc.Parse(normalizeDMARC(recs[0]))
	if err != nil {
		return nil, fmt.Errorf("%w at _dmarc.%s: %w", errDMARCRecord, domain, err)
	}
	return rec, nil
}

// normalizeDMARC lower-cases the keyword values of a record (p, sp, adkim, aspf, fo) and
// trims the white space around every tag: RFC 7489 6.4 ABNF strings are case-insensitive
// ("p=Reject" is valid), which go-msgauth's parser does not allow.
func normalizeDMARC(rec string) string {
	specs := strings.Split(rec, ";")
	for i, spec := range specs {
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "p", "sp", "adkim", "aspf", "fo":
			name, value = strings.ToLower(name), strings.ToLower(value)
		}
		specs[i] = name + "=" + value
	}
	return strings.Join(specs, ";")
}
