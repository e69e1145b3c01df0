package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"blitiri.com.ar/go/spf"

	"mailgrid/internal/dns"
	"mailgrid/internal/mail"
)

// SPFTimeout bounds one check_host() evaluation including every lookup (RFC 7208 4.6.4:
// "MAY impose a limit on the elapsed time ... at least 20 seconds").
const SPFTimeout = 20 * time.Second

// SPF identities (RFC 7208 2.3, 2.4), as Authentication-Results names them (RFC 8601
// 2.7.2: smtp.helo, smtp.mailfrom).
const (
	IdentityHELO     = "helo"
	IdentityMailFrom = "mailfrom"
)

// SPFParams is the input of one SPF check.
type SPFParams struct {
	Resolver dns.Resolver
	ClientIP net.IP
	HELO     string       // the EHLO/HELO argument as the client sent it
	MailFrom mail.Address // the reverse path; the zero Address is the null path <>
	Hostname string       // our host name, the %{r} macro of explanations (RFC 7208 7.3)
	Now      time.Time    // the %{t} macro of explanations
}

// SPFResult is the outcome of check_host() (RFC 7208 4) for one identity.
type SPFResult struct {
	Status   Status
	Identity string // IdentityMailFrom or IdentityHELO
	Domain   string // the domain whose policy was evaluated; "" when there was none to check
	Sender   string // <sender> as evaluated: MAIL FROM, or postmaster@<HELO> (RFC 7208 2.4)
	// Reason says briefly what decided the result: the matching mechanism, the missing
	// record, the error. It is for logs and Authentication-Results.
	Reason string
	// Explanation is set for fail only (RFC 7208 8.4): the domain's exp= text (RFC 7208
	// 6.2), or a default one; an SMTP rejection should carry it.
	Explanation string
}

// CheckSPF checks the HELO identity and the MAIL FROM identity of a session.
//
// RFC 7208 2.3 recommends checking HELO on its own; its result is heloRes. mailFromRes is
// the result for the MAIL FROM identity (RFC 7208 2.4); for the null reverse path it is
// the HELO check with sender postmaster@<HELO>, so mailFromRes is always the result to
// report and to feed DMARC with. A HELO that is not a domain name (an address literal, a
// single label) has no policy: none (RFC 7208 4.3).
func CheckSPF(ctx context.Context, p SPFParams) (mailFromRes, heloRes SPFResult) {
	ctx, cancel := context.WithTimeout(ctx, SPFTimeout)
	defer cancel()
	heloRes = SPFResult{Status: StatusNone, Identity: IdentityHELO, Reason: "HELO is not a domain name"}
	if helo, err := mail.ParseDomain(p.HELO); err == nil {
		heloRes = checkHost(ctx, p, IdentityHELO, helo, "postmaster@"+helo)
	}
	if p.MailFrom.IsZero() {
		return heloRes, heloRes
	}
	return checkHost(ctx, p, IdentityMailFrom, p.MailFrom.Domain, p.MailFrom.String()), heloRes
}

// checkHost runs check_host(ip, domain, sender) through blitiri's evaluator.
func checkHost(ctx context.Context, p SPFParams, identity, domain, sender string) SPFResult {
	res := SPFResult{Identity: identity, Domain: domain, Sender: sender}
	r, err := spf.CheckHostWithSender(p.ClientIP, p.HELO, sender,
		spf.WithContext(ctx), spf.WithResolver(spfResolver{p.Resolver}))
	res.Status = spfStatus(r)
	res.Reason = spfReason(r, err)
	if res.Status == StatusFail {
		res.Explanation = explain(ctx, p, domain, sender)
	}
	return res
}

func spfStatus(r spf.Result) Status {
	switch r {
	case spf.Pass:
		return StatusPass
	case spf.Fail:
		return StatusFail
	case spf.SoftFail:
		return StatusSoftFail
	case spf.Neutral:
		return StatusNeutral
	case spf.TempError:
		return StatusTempError
	case spf.PermError:
		return StatusPermError
	default:
		return StatusNone
	}
}

// spfReason turns the library's diagnostic error (set on success too: "matched ip") into
// a short reason. The library's wording may change; it is for humans only.
func spfReason(r spf.Result, err error) string {
	switch {
	case errors.Is(err, spf.ErrNoResult):
		return "no SPF record"
	case errors.Is(err, spf.ErrLookupLimitReached):
		return "too many DNS lookups (RFC 7208 4.6.4)"
	case errors.Is(err, spf.ErrVoidLookupLimitReached):
		return "too many void DNS lookups (RFC 7208 4.6.4)"
	case errors.Is(err, spf.ErrMultipleRecords):
		return "more than one SPF record (RFC 7208 4.5)"
	case err != nil:
		var de *net.DNSError
		if errors.As(err, &de) {
			return "DNS error: " + de.Err
		}
		return err.Error()
	case r == spf.Neutral:
		return "no mechanism matched"
	default:
		return string(r)
	}
}

// defaultExplanation is the explanation of a fail without exp= (RFC 7208 6.2 allows a
// default string).
func defaultExplanation(domain string, ip net.IP) string {
	return fmt.Sprintf("%s does not designate %s as permitted sender", domain, ip)
}
