package mailauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"mailgrid/internal/dns"
	"mailgrid/internal/mail"
	"mailgrid/internal/obs"
)

// Params is the input of Check: the SMTP session facts and the message.
type Params struct {
	Resolver   dns.Resolver
	Now        func() time.Time // the clock; nil means time.Now
	Logger     *slog.Logger     // nil discards
	AuthServID string           // our host name: the authserv-id (RFC 8601 2.5) and %{r}
	ClientIP   net.IP
	HELO       string       // the EHLO/HELO argument
	MailFrom   mail.Address // the reverse path; zero for <>
	Body       Body         // the message as received
	// Sample returns a number in [0, 100) for DMARC pct= sampling; nil is random.
	Sample func() int
}

// Result is everything Check found.
type Result struct {
	SPF   SPFResult // the MAIL FROM identity (the HELO check for a null reverse path)
	HELO  SPFResult // the HELO identity (RFC 7208 2.3)
	DKIM  []DKIMResult
	DMARC DMARCResult
	// Header is the Authentication-Results field to prepend, ending in CRLF.
	Header string
	// Strip lists the Authentication-Results fields of the message that claim our
	// authserv-id: they must be removed before delivery (RFC 8601 5); StripFields does it.
	Strip []Span
}

// Check authenticates an inbound message: SPF for the HELO and MAIL FROM identities
// (RFC 7208) and DKIM for every signature (RFC 6376), concurrently; then DMARC for the
// RFC5322.From domain (RFC 7489); then composes the Authentication-Results field
// (RFC 8601). DNS failures become temperror results, never errors; the only errors are a
// missing parameter and a failure to read the body.
func Check(ctx context.Context, p Params) (Result, error) {
	if p.Resolver == nil || p.Body == nil || p.AuthServID == "" {
		return Result{}, errors.New("mailauth: Check needs Resolver, Body and AuthServID")
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	log := p.Logger
	if log == nil {
		log = obs.Discard()
	}
	size := p.Body.Size()
	h, err := scanHeader(p.Body, size, fieldFrom, fieldDKIM, fieldAuthResults)
	if err != nil {
		return Result{}, fmt.Errorf("mailauth: read message: %w", err)
	}
	var res Result
	var wg sync.WaitGroup
	wg.Go(func() {
		res.SPF, res.HELO = CheckSPF(ctx, SPFParams{
			Resolver: p.Resolver, ClientIP: p.ClientIP, HELO: p.HELO, MailFrom: p.MailFrom,
			Hostname: p.AuthServID, Now: now(),
		})
	})
	res.DKIM, err = verifyDKIM(ctx, p.Resolver, p.Body, size, h, now())
	wg.Wait()
	if err != nil {
		return Result{}, fmt.Errorf("mailauth: read message: %w", err)
	}
	res.DMARC = checkDMARC(ctx, p, h, res)
	res.Strip = claimed(h, p.AuthServID)
	res.Header = ComposeAuthResults(p.AuthServID, &res.SPF, res.DKIM, &res.DMARC)
	log.Debug("mailauth", slog.String("spf", string(res.SPF.Status)), slog.String("helo", string(res.HELO.Status)),
		slog.Int("dkim_signatures", len(res.DKIM)), slog.String("dmarc", string(res.DMARC.Status)),
		slog.String("from_domain", res.DMARC.FromDomain), slog.Int("stripped", len(res.Strip)))
	return res, nil
}

// checkDMARC evaluates DMARC for the message's From domain.
func checkDMARC(ctx context.Context, p Params, h header, res Result) DMARCResult {
	from, err := fromDomain(h)
	if err != nil {
		// RFC 7489 6.6.1: no single author domain to evaluate; receivers should reject.
		return DMARCResult{Status: StatusPermError, Reason: err.Error()}
	}
	return EvaluateDMARC(ctx, DMARCParams{
		Resolver: p.Resolver, FromDomain: from, SPF: res.SPF, DKIM: res.DKIM, Sample: p.Sample,
	})
}

// claimed returns the spans of Authentication-Results fields claiming authservID.
func claimed(h header, authservID string) []Span {
	var spans []Span
	for _, f := range h.fields {
		if strings.EqualFold(f.name, fieldAuthResults) && ClaimsAuthServID(f.value, authservID) {
			spans = append(spans, f.span)
		}
	}
	return spans
}

// fromDomain returns the RFC5322.From domain (RFC 7489 3.1, 6.6.1): exactly one From
// field, whose addresses all share one domain.
func fromDomain(h header) (string, error) {
	var froms []field
	for _, f := range h.fields {
		if strings.EqualFold(f.name, fieldFrom) {
			froms = append(froms, f)
		}
	}
	if len(froms) != 1 {
		return "", fmt.Errorf("message has %d From fields", len(froms))
	}
	domains := fromDomains(froms[0].unfolded())
	if len(domains) == 0 {
		return "", errors.New("no address in From")
	}
	for _, d := range domains[1:] {
		if d != domains[0] {
			return "", errors.New("addresses of several domains in From")
		}
	}
	dom, err := mail.ParseDomain(domains[0])
	if err != nil {
		return "", fmt.Errorf("domain of From: %w", err)
	}
	return dom, nil
}

// fromDomains returns the domains of the addresses in a From value, lower case. It parses
// with net/mail (display names in any charset are skipped, not decoded) and falls back to
// the last "<...@domain>" or "...@domain" for values net/mail refuses.
func fromDomains(v string) []string {
	parser := netmail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
	}}
	var domains []string
	if list, err := parser.ParseList(v); err == nil {
		for _, a := range list {
			if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
				domains = append(domains, strings.ToLower(a.Address[i+1:]))
			}
		}
		return domains
	}
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	i := strings.LastIndexByte(v, '@')
	if i < 0 {
		return nil
	}
	d := strings.TrimSpace(v[i+1:])
	if d == "" || strings.ContainsAny(d, " \t<>,;\"()") {
		return nil
	}
	return []string{strings.ToLower(d)}
}
