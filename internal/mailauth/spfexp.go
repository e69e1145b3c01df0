package mailauth

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/dns"
)

// Bounds on explanation processing.
const (
	maxRedirects      = 10  // redirect= hops followed to find the deciding record
	maxExplanationLen = 512 // octets of explanation text kept
	maxMacroDigits    = 128 // RFC 7208 7.3: at least 128 parts MUST be supported
)

var errMacro = errors.New("spf: invalid macro")

// explain returns the explanation of a fail for domain: the exp= text if the record has
// one that resolves and expands, else the default explanation.
func explain(ctx context.Context, p SPFParams, domain, sender string) string {
	env := macroEnv{sender: sender, domain: domain, ip: p.ClientIP, helo: p.HELO, receiver: p.Hostname, now: p.Now}
	if text, ok := fetchExplanation(ctx, p.Resolver, env); ok {
		return text
	}
	return defaultExplanation(domain, p.ClientIP)
}

// fetchExplanation finds the exp= modifier that applies and expands it (RFC 7208 6.2).
// The exp= of a redirect target replaces the original record's; redirect= is followed only
// in a record without "all" (RFC 7208 6.1), the case where the verdict came from the
// target (a fail from a mechanism before redirect= would take the original's exp=; that
// rare case gets the target's or the default). Any DNS problem, zero or several
// explanation records, or a macro error means "as if no exp modifier was given".
func fetchExplanation(ctx context.Context, r dns.Resolver, env macroEnv) (string, bool) {
	for range maxRedirects {
		rec, ok := spfRecord(ctx, r, env.domain)
		if !ok {
			return "", false
		}
		exp, redirect, hasAll := spfModifiers(rec)
		if redirect != "" && !hasAll {
			target, err := expandMacros(redirect, env, false)
			if err != nil || target == "" {
				return "", false
			}
			env.domain = target
			continue
		}
		if exp == "" {
			return "", false
		}
		name, err := expandMacros(exp, env, false)
		if err != nil || name == "" {
			return "", false
		}
		txts, err := r.LookupTXT(ctx, name)
		if err != nil || len(txts) != 1 {
			return "", false
		}
		text, err := expandMacros(txts[0], env, true)
		if err != nil {
			return "", false
		}
		text = printableASCII(text, maxExplanationLen)
		return text, text != ""
	}
	return "", false
}

// spfRecord returns the single SPF record of domain (RFC 7208 4.5).
func spfRecord(ctx context.Context, r dns.Resolver, domain string) (string, bool) {
	txts, err := r.LookupTXT(ctx, domain)
	if err != nil {
		return "", false
	}
	var recs []string
	for _, t := range txts {
		if l := strings.ToLower(t); l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return "", false
	}
	return recs[0], true
}

// spfModifiers returns the exp= and redirect= values of a record and whether it has an
// "all" mechanism (RFC 7208 4.6.1, 5.1, 6).
func spfModifiers(rec string) (exp, redirect string, hasAll bool) {
	for _, term := range strings.Fields(rec) {
		l := strings.ToLower(term)
		switch {
		case strings.HasPrefix(l, "exp="):
			exp = term[len("exp="):]
		case strings.HasPrefix(l, "redirect="):
			redirect = term[len("redirect="):]
		case strings.TrimLeft(l, "+-~?") == "all":
			hasAll = true
		}
	}
	return exp, redirect, hasAll
}

// macroEnv holds the values macros expand to (RFC 7208 7.3).
type macroEnv struct {
	sender   string // s; l and o are its parts
	domain   string // d
	ip       net.IP // i, c, v
	helo     string // h
	receiver string // r ("unknown" when empty)
	now      time.Time
}

// expandMacros expands a macro-string (RFC 7208 7.1). explain allows the letters c, r, t
// and spaces, which only explanation strings may use (RFC 7208 7.1, 6.2).
func expandMacros(s string, env macroEnv, explain bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' && explain:
			b.WriteByte(c)
			continue
		case c != '%':
			if c < 0x21 || c > 0x7e { // macro-literal: visible characters (RFC 7208 7.1)
				return "", errMacro
			}
			b.WriteByte(c)
			continue
		case i+1 == len(s):
			return "", errMacro
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case '_':
			b.WriteByte(' ')
		case '-':
			b.WriteString("%20")
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errMacro
			}
			v, err := expandMacro(s[i+1:i+end], env, explain)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		default:
			return "", errMacro
		}
	}
	return b.String(), nil
}

// expandMacro expands the inside of one "%{...}": macro-letter transformers *delimiter.
func expandMacro(m string, env macroEnv, explain bool) (string, error) {
	if m == "" {
		return "", errMacro
	}
	letter := m[0]
	v, ok := macroValue(letter|0x20, env, explain)
	if !ok {
		return "", errMacro
	}
	rest := m[1:]
	n := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	digits := 0
	if n > 0 {
		d, err := strconv.Atoi(rest[:n])
		if err != nil || d == 0 || d > maxMacroDigits {
			return "", errMacro // RFC 7208 7.3: a DIGIT transformer MUST be nonzero
		}
		digits, rest = d, rest[n:]
	}
	reverse := strings.HasPrefix(rest, "r") || strings.HasPrefix(rest, "R")
	if reverse {
		rest = rest[1:]
	}
	delims := "."
	if rest != "" {
		if strings.Trim(rest, ".-+,/_=") != "" {
			return "", errMacro
		}
		delims = rest
	}
	parts := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if reverse {
		slices.Reverse(parts)
	}
	if digits > 0 && digits < len(parts) {
		parts = parts[len(parts)-digits:]
	}
	v = strings.Join(parts, ".")
	if letter >= 'A' && letter <= 'Z' {
		v = urlEscape(v) // RFC 7208 7.3: upper-case letters are URL-escaped
	}
	return v, nil
}

// macroValue returns the value of a lower-case macro letter (RFC 7208 7.3).
func macroValue(letter byte, env macroEnv, explain bool) (string, bool) {
	switch letter {
	case 's':
		return env.sender, true
	case 'l', 'o':
		local, dom, ok := strings.Cut(env.sender, "@")
		if letter == 'o' {
			return dom, ok
		}
		if local == "" {
			local = "postmaster" // RFC 7208 4.3
		}
		return local, true
	case 'd':
		return env.domain, true
	case 'i':
		return ipMacro(env.ip), true
	case 'p':
		return "unknown", true // RFC 7208 7.3: "unknown" when not validated (no PTR here)
	case 'v':
		if env.ip.To4() != nil {
			return "in-addr", true
		}
		return "ip6", true
	case 'h':
		return env.helo, true
	}
	if !explain {
		return "", false // c, r, t only in explanations (RFC 7208 7.1)
	}
	switch letter {
	case 'c':
		return env.ip.String(), true
	case 'r':
		if env.receiver == "" {
			return "unknown", true
		}
		return env.receiver, true
	case 't':
		return strconv.FormatInt(env.now.Unix(), 10), true
	}
	return "", false
}

// ipMacro is the "i" macro: dotted quad, or dot-separated nibbles for IPv6 (RFC 7208 7.3).
func ipMacro(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i, c := range ip.To16() {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[c>>4])
		b.WriteByte('.')
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// urlEscape escapes everything but RFC 3986 unreserved characters (RFC 7208 7.3).
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// printableASCII keeps printable US-ASCII of s, at most n octets: an explanation ends up
// in an SMTP reply, where control characters and line breaks must never appear.
func printableASCII(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if s[i] >= 0x20 && s[i] < 0x7f {
			b = append(b, s[i])
		}
	}
	return strings.TrimSpace(string(b))
}
