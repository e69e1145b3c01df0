package directory

// Single sign-on secrets, their one-time nonces, and the SMS add-ons of the webmail: the
// optional stores a driver offers so that every node of a cluster sees the same ones.
//
// Model:
//   - SSO: each domain may have one shared secret (SSOSecret), known to the operator's
//     portal, with which the portal signs one-time webmail login links (package web,
//     docs/webmail.md). The secret is kept in clear: a verifier of an HMAC needs it, as
//     for TOTP. It goes with its domain. A nonce of a link that was used is remembered
//     (UseSSONonce) until the link would have expired anyway, so a link works once on
//     any node; expired nonces are purged as new ones are recorded.
//   - SMS: an account may have one notification rule (SMSRule: a phone number and
//     conditions on From and Subject), going with the account. Every SMS sent is counted
//     per account and day (CountSMS); the counts outlive the account (they are the
//     domain's statistics) and name the account by ID and address.
//
// The stores are found by type assertion on a Directory; both the SQLite and the
// PostgreSQL drivers have them.

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// SSOSecretStore keeps the per-domain single sign-on secrets and the used nonces. Every
// method is safe for concurrent use and has durably committed its change when it returns
// nil.
type SSOSecretStore interface {
	// SSOSecret returns domain's secret. ErrNotFound when the domain has none (or does
	// not exist).
	SSOSecret(ctx context.Context, domain string) (string, error)
	// SetSSOSecret stores (or replaces) domain's secret; "" removes it (no error when
	// there was none). ErrNotFound for an unknown domain; ErrInvalid for a secret
	// shorter than MinSSOSecret bytes.
	SetSSOSecret(ctx context.Context, domain, secret string) error
	// UseSSONonce records nonce of domain as used until expires and reports whether it
	// was unused (false: a replay). One statement: of two nodes presenting the same
	// nonce at once exactly one gets true. Nonces that expired at or before now are
	// removed first, so the table stays as small as the links of the last minute.
	UseSSONonce(ctx context.Context, domain, nonce string, expires, now time.Time) (bool, error)
}

// MinSSOSecret is the shortest SSO secret accepted, in bytes (128 bits as hex).
const MinSSOSecret = 32

// MaxSSONonce bounds a nonce's length in bytes.
const MaxSSONonce = 128

// CheckSSOSecret validates a secret for SetSSOSecret ("" is valid: it removes).
func CheckSSOSecret(secret string) error {
	if secret != "" && (len(secret) < MinSSOSecret || len(secret) > 256 || strings.ContainsAny(secret, "\x00\r\n")) {
		return fmt.Errorf("%w: SSO secret: %d to 256 bytes, no line breaks", ErrInvalid, MinSSOSecret)
	}
	return nil
}

// SMSRule is an account's "notify me by SMS of new mail matching ..." setting. A message
// matches when every non-empty condition holds: its From field contains FromContains and
// its Subject contains SubjectContains (both case-insensitive).
type SMSRule struct {
	AccountID       int64
	Domain          string
	Phone           string // E.164 form: "+" and 6 to 15 digits (NormPhone)
	FromContains    string
	SubjectContains string
	Enabled         bool
}

// Matches reports whether a message with these From and Subject fields matches r.
func (r SMSRule) Matches(from, subject string) bool {
	return r.Enabled &&
		(r.FromContains == "" || strings.Contains(strings.ToLower(from), strings.ToLower(r.FromContains))) &&
		(r.SubjectContains == "" || strings.Contains(strings.ToLower(subject), strings.ToLower(r.SubjectContains)))
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{5,14}$`)

// NormPhone normalises a phone number to E.164 (ITU-T E.164: "+", country code, at most
// 15 digits): spaces, dots, dashes and parentheses are dropped, a leading "00" becomes
// "+". ErrInvalid for anything else, so a number never carries text into a gateway
// request.
func NormPhone(s string) (string, error) {
	var b strings.Builder
	for _, c := range strings.TrimSpace(s) {
		switch {
		case c == ' ' || c == '.' || c == '-' || c == '(' || c == ')':
		default:
			b.WriteRune(c)
		}
	}
	p := b.String()
	if strings.HasPrefix(p, "00") {
		p = "+" + p[2:]
	}
	if !e164.MatchString(p) {
		return "", Invalid("phone number %q: want international form, e.g. +41 44 668 18 00", s)
	}
	return p, nil
}

// maxSMSCondition bounds a rule's conditions in bytes.
const maxSMSCondition = 200

// NormSMSRule validates r for SetSMSRule (its phone normalised).
func NormSMSRule(r SMSRule) (SMSRule, error) {
	p, err := NormPhone(r.Phone)
	if err != nil {
		return r, err
	}
	r.Phone = p
	r.FromContains, r.SubjectContains = strings.TrimSpace(r.FromContains), strings.TrimSpace(r.SubjectContains)
	if len(r.FromContains) > maxSMSCondition || len(r.SubjectContains) > maxSMSCondition ||
		strings.ContainsAny(r.FromContains+r.SubjectContains, "\x00\r\n") {
		return r, Invalid("SMS condition: at most %d bytes, one line", maxSMSCondition)
	}
	return r, nil
}

// SMSKind says why an SMS was sent.
type SMSKind string

const (
	SMSNotify SMSKind = "notify" // a notification of new mail
	SMSSend   SMSKind = "send"   // "send as SMS" from the webmail
)

// SMSCount is the number of SMS one account sent on one day (UTC), by kind.
type SMSCount struct {
	Domain    string
	AccountID int64
	Address   string // the account's address when counted
	Day       string // YYYY-MM-DD, UTC
	Notify    int64
	Send      int64
}

// SMSStore keeps the SMS rules and counters. The same rules as SSOSecretStore.
type SMSStore interface {
	// SMSRule returns an account's rule; ErrNotFound when it has none.
	SMSRule(ctx context.Context, accountID int64) (SMSRule, error)
	// SetSMSRule stores (replaces) r for r.AccountID of r.Domain (NormSMSRule rules).
	// ErrNotFound for an unknown account or one of another domain.
	SetSMSRule(ctx context.Context, r SMSRule) error
	// DeleteSMSRule removes an account's rule; ErrNotFound when it has none.
	DeleteSMSRule(ctx context.Context, accountID int64) error
	// CountSMS adds one SMS of kind for the account on at's UTC day.
	CountSMS(ctx context.Context, domain string, accountID int64, address string, kind SMSKind, at time.Time) error
	// SMSCounts lists the counts of domain ("" = every domain) from the day of since on,
	// ordered by day, domain, account.
	SMSCounts(ctx context.Context, domain string, since time.Time) ([]SMSCount, error)
}

// SMSDay is the counters' day of t.
func SMSDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }
