// Package mailauth authenticates messages: SPF (RFC 7208), DKIM verification and signing
// (RFC 6376, Ed25519 per RFC 8463), DMARC (RFC 7489) and the Authentication-Results header
// field that reports them (RFC 8601).
//
// Model: mailauth is a "standards" package. It is pure: every call takes the DNS resolver
// (internal/dns.Resolver), the clock and the logger as parameters, keeps no state between
// calls and imports only foundation packages (internal/mail, internal/dns, internal/obs)
// and libraries. Check is the one entry point the delivery pipeline calls for an inbound
// message; it runs the SPF checks of the HELO and MAIL FROM identities beside the DKIM
// verification of every signature, then evaluates DMARC for the RFC5322.From domain and
// composes the Authentication-Results field for our authserv-id. SignDKIM is the entry
// point for outbound mail: it reads the message once and returns the DKIM-Signature field
// to prepend, so the message itself is never copied.
//
// Messages are read through io.ReaderAt (the shape of store.Body and message.Spool): the
// header is scanned once (header.go) for the fields authentication needs (From,
// DKIM-Signature, Authentication-Results) and bodies are streamed through the hashes,
// never held.
//
// Temporary DNS failures are never turned into a permanent verdict: they surface as
// temperror in SPF, DKIM and DMARC, and DMARC reports temperror instead of fail whenever
// an identifier that could have aligned failed temporarily.
//
// Libraries:
//   - blitiri.com.ar/go/spf evaluates SPF records (all mechanisms, modifiers and macros,
//     the RFC 7208 4.6.4 lookup limits). It takes a resolver interface, which resolver.go
//     adapts from dns.Resolver. It ignores exp=, so spfexp.go fetches and expands the
//     explanation (RFC 7208 6.2) itself.
//   - github.com/emersion/go-msgauth: dkim (verify and sign with streaming bodies; its
//     verifier takes a TXT lookup function, given one from dns.Resolver), dmarc (record
//     syntax) and authres (result formatting and parsing).
//   - golang.org/x/net/publicsuffix finds organizational domains (RFC 7489 3.2) for DMARC
//     relaxed alignment and the policy fallback.
//
// Alignment, the DMARC policy decision, the DKIM-Signature tag scan that gives each result
// its selector, the authserv-id test for stripping forged Authentication-Results fields,
// and SPF explanation macros are our own code; each has a fuzz target.
package mailauth

// Status is an authentication result value as Authentication-Results reports it
// (RFC 8601 2.7; RFC 7208 8 for SPF, RFC 6376 3.9 for DKIM, RFC 7489 11.2 for DMARC).
type Status string

// Result values. Not every method uses every value: SPF has softfail, DKIM has policy.
const (
	StatusNone      Status = "none"
	StatusPass      Status = "pass"
	StatusFail      Status = "fail"
	StatusSoftFail  Status = "softfail"
	StatusNeutral   Status = "neutral"
	StatusPolicy    Status = "policy"
	StatusTempError Status = "temperror"
	StatusPermError Status = "permerror"
)
