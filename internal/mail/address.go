// Package mail holds mailgrid's address types: an Address is a local part and a domain,
// parsed from SMTP paths (RFC 5321 4.1.2) and normalised so that every lookup in the
// directory is case-insensitive on the domain and IDNA-aware.
//
// Model: the domain is kept in its ASCII (A-label, lower case) form, the form DNS and the
// directory use; Unicode (U-label) is only for display. The local part is kept as written
// (RFC 5321 2.4: it may be case-sensitive on the wire), and Key gives the case-folded
// form the directory matches on, as every mature system does in practice. SMTPUTF8
// (RFC 6531) local parts are UTF-8 and are folded with Unicode simple case folding.
//
// Parse refuses the routing tricks that turn a mail server into an open relay: source
// routes (RFC 5321 4.1.2 "@a,@b:user@c"), the %-hack ("user%other@local"), UUCP bang
// paths ("host!user@local") and quoted local parts that hide any of those.
//
// IDNA conversion uses golang.org/x/net/idna (the Lookup profile), the library made for it.
package mail

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Limits from RFC 5321 4.5.3.1.
const (
	MaxLocalPartLen = 64
	MaxDomainLen    = 255
	MaxPathLen      = 256
)

// Errors returned by Parse. They are distinct so SMTP can map each to its reply.
var (
	ErrEmpty       = errors.New("empty address")
	ErrSyntax      = errors.New("address syntax error")
	ErrSourceRoute = errors.New("source routes are not accepted")
	ErrRouting     = errors.New("routing characters (%, !) in local part are not accepted")
	ErrTooLong     = errors.New("address too long")
	ErrDomain      = errors.New("invalid domain")
)

// Address is a parsed, normalised mailbox address.
type Address struct {
	Local  string // as written (quotes removed), UTF-8 allowed
	Domain string // ASCII, lower case, no trailing dot
}

// String formats the address for SMTP and headers, quoting the local part if needed.
func (a Address) String() string {
	if a.Local == "" && a.Domain == "" {
		return ""
	}
	return quoteLocal(a.Local) + "@" + a.Domain
}

// Key is the form the directory matches on: folded local part and ASCII domain.
func (a Address) Key() string {
	return FoldLocal(a.Local) + "@" + a.Domain
}

// IsZero reports whether a is the null address (the <> reverse path).
func (a Address) IsZero() bool { return a.Local == "" && a.Domain == "" }

// IsASCII reports whether the address needs no SMTPUTF8 (RFC 6531).
func (a Address) IsASCII() bool { return isASCII(a.Local) && isASCII(a.Domain) }

// Base returns the address with any "+detail" sub-address removed (RFC 5233 style).
func (a Address) Base() (base Address, detail string) {
	if i := strings.IndexByte(a.Local, '+'); i > 0 {
		return Address{Local: a.Local[:i], Domain: a.Domain}, a.Local[i+1:]
	}
	return a, ""
}

// FoldLocal case-folds a local part for matching: ASCII lower-casing for ASCII, else
// Unicode NFC normalisation then full case folding (golang.org/x/text), so that "élodie"
// written precomposed or with a combining accent, and "ſam"/"sam", are one key.
func FoldLocal(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	return cases.Fold().String(norm.NFC.String(s)) // a Caser is not safe to share: one per call
}

// Parse parses "local@domain" (no angle brackets). It accepts quoted local parts that
// are plain after unquoting, and refuses relay tricks.
func Parse(s string) (Address, error) {
	if s == "" {
		return Address{}, ErrEmpty
	}
	if len(s) > MaxPathLen {
		return Address{}, ErrTooLong
	}
	if !utf8.ValidString(s) {
		return Address{}, ErrSyntax
	}
	if s[0] == '@' {
		if strings.Contains(s, ":") {
			// RFC 5321 4.1.2: A-d-l (source route); RFC 5321 C says ignore, but
			// accepting them invites relay abuse, so we refuse as Postfix does by default.
			return Address{}, ErrSourceRoute
		}
		return Address{}, ErrSyntax
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Address{}, ErrSyntax
	}
	localRaw, domRaw := s[:at], s[at+1:]
	local, err := parseLocal(localRaw)
	if err != nil {
		return Address{}, err
	}
	dom, err := ParseDomain(domRaw)
	if err != nil {
		return Address{}, err
	}
	a := Address{Local: local, Domain: dom}
	// RFC 5321 4.5.3.1.3: 256 octets for the path including "<>", so 254 for the
	// address, measured on the form we would send (quoted local part, A-label domain).
	if len(a.String()) > MaxPathLen-2 {
		return Address{}, ErrTooLong
	}
	return a, nil
}

// MustParse is Parse for constants in tests and defaults; it panics on error.
func MustParse(s string) Address {
	a, err := Parse(s)
	if err != nil {
		panic(fmt.Sprintf("mail.MustParse(%q): %v", s, err))
	}
	return a
}

func parseLocal(s string) (string, error) {
	if len(s) > MaxLocalPartLen {
		return "", ErrTooLong
	}
	if strings.HasPrefix(s, `"`) {
		if len(s) < 2 || !strings.HasSuffix(s, `"`) {
			return "", ErrSyntax
		}
		var b strings.Builder
		inner := s[1 : len(s)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			if c == '\\' {
				i++
				if i == len(inner) {
					return "", ErrSyntax
				}
				c = inner[i]
			} else if c == '"' {
				return "", ErrSyntax
			}
			if c < 0x20 || c == 0x7f {
				return "", ErrSyntax
			}
			b.WriteByte(c)
		}
		s = b.String()
		// A quoted local part that contains '@' hides a second address ("a@b"@local):
		// that is a relay trick, like % and !.
		if strings.ContainsAny(s, "@") {
			return "", ErrRouting
		}
	} else if !dotAtomOK(s) {
		return "", ErrSyntax
	}
	if s == "" {
		return "", ErrSyntax
	}
	if strings.ContainsAny(s, "%!") {
		return "", ErrRouting
	}
	if len(s) > MaxLocalPartLen {
		return "", ErrTooLong
	}
	return s, nil
}

// dotAtomOK checks RFC 5322 3.2.3 dot-atom, extended by RFC 6531 3.3 to UTF-8.
func dotAtomOK(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r >= 0x80 {
			if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				return false // C1 controls and bidi overrides disguise addresses
			}
			continue // RFC 6531 UTF8-non-ascii
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			continue
		}
		if strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r) {
			continue
		}
		return false
	}
	return true
}

var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(true), idna.BidiRule(), idna.ValidateLabels(true), idna.VerifyDNSLength(true))

// ParseDomain normalises a domain to lower-case ASCII (A-labels). Address literals
// ([1.2.3.4]) are refused: mailgrid hosts domains, not IP literals.
func ParseDomain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > MaxDomainLen || strings.HasSuffix(s, ".") {
		return "", ErrDomain
	}
	if strings.HasPrefix(s, "[") {
		return "", ErrDomain
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDomain, err)
	}
	a = strings.ToLower(a)
	if !strings.Contains(a, ".") && a != "localhost" {
		// Single-label names are not mail domains, except localhost for development.
		return "", ErrDomain
	}
	return a, nil
}

// DomainUnicode renders an ASCII domain for display.
func DomainUnicode(ascii string) string {
	u, err := idna.ToUnicode(ascii)
	if err != nil {
		return ascii
	}
	return u
}

func quoteLocal(s string) string {
	if dotAtomOK(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
