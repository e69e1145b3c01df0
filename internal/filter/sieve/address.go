package sieve

import (
	"strings"
)

// addrPart is an ADDRESS-PART (RFC 5228 2.7.4, RFC 5233 4).
type addrPart uint8

const (
	partAll addrPart = iota // the default
	partLocal
	partDomain
	partUser   // RFC 5233: local part before the separator
	partDetail // RFC 5233: local part after the separator
)

func addrPartByTag(tag string) (addrPart, string, bool) {
	switch tag {
	case "all":
		return partAll, "", true
	case "localpart":
		return partLocal, "", true
	case "domain":
		return partDomain, "", true
	case "user":
		return partUser, "subaddress", true
	case "detail":
		return partDetail, "subaddress", true
	}
	return 0, "", false
}

// subaddressSep separates user and detail (RFC 5233 4), as mailgrid's delivery does
// (mail.Address.Base).
const subaddressSep = "+"

// headerAddr is one address found in a header: raw is the text as written (what :all
// compares when the address does not parse); local and domain are set when it does.
type headerAddr struct {
	raw, local, domain string
	valid              bool
}

// part extracts an address part; ok is false when the address has no such part, in
// which case the address is not compared at all (RFC 5228 2.7.4: an invalid address
// matches no :localpart or :domain test; RFC 5233 4: no separator, no :detail).
func (a headerAddr) part(p addrPart) (string, bool) {
	if !a.valid {
		return a.raw, p == partAll
	}
	switch p {
	case partLocal:
		return a.local, true
	case partDomain:
		return a.domain, a.domain != ""
	case partUser:
		user, _, _ := strings.Cut(a.local, subaddressSep)
		return user, true
	case partDetail:
		_, detail, found := strings.Cut(a.local, subaddressSep)
		return detail, found
	}
	if a.domain == "" {
		return a.local, true
	}
	return a.local + "@" + a.domain, true
}

// isAddressHeader reports whether a header holds addresses (RFC 5228 5.1: the address
// test is restricted to those; RFC 5322 3.6.2, 3.6.3, 3.6.6 and common extensions).
func isAddressHeader(name string) bool {
	switch strings.ToLower(name) {
	case "from", "sender", "reply-to", "to", "cc", "bcc",
		"resent-from", "resent-sender", "resent-reply-to", "resent-to", "resent-cc", "resent-bcc",
		"return-path", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to",
		"disposition-notification-to", "errors-to", "mail-followup-to", "mail-reply-to",
		"original-recipient", "x-original-from", "x-original-sender", "apparently-to":
		return true
	}
	return false
}

// parseAddressList reads an address-list header value (RFC 5322 3.4) leniently: groups
// are flattened to their members (RFC 5228 2.7.4), display names and comments are
// dropped, and an item that is not an address is kept as raw text. Because Message
// gives decoded header values, a display name may hold an unquoted comma; an item
// without "@" that is followed by an angle-bracket address is joined to it.
func parseAddressList(s string) []headerAddr {
	items := splitAddressItems(s)
	var out []headerAddr
	for i := 0; i < len(items); i++ {
		it := items[i]
		for !strings.Contains(it, "@") && !strings.Contains(it, "<") && i+1 < len(items) && strings.Contains(items[i+1], "<") {
			i++
			it += "," + items[i]
		}
		if strings.TrimSpace(it) == "" {
			continue
		}
		out = append(out, parseOneAddress(it))
	}
	return out
}

// splitAddressItems splits at top-level "," and at the ":" and ";" of group syntax,
// ignoring those inside quoted strings, comments and angle brackets.
func splitAddressItems(s string) []string {
	var items []string
	start, depth, angle, quoted := 0, 0, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			if c == '\\' {
				i++
			} else if c == '"' {
				quoted = false
			}
		case c == '"':
			quoted = true
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case angle:
		case c == ',' || c == ';':
			items = append(items, s[start:i])
			start = i + 1
		case c == ':':
			start = i + 1 // group name (RFC 5322 3.4 group): dropped
		}
	}
	return append(items, s[start:])
}

// parseOneAddress reads "Name <local@domain>" or "local@domain (comment)".
func parseOneAddress(item string) headerAddr {
	raw := strings.TrimSpace(item)
	spec := raw
	if lt := strings.IndexByte(raw, '<'); lt >= 0 && !inQuotes(raw, lt) {
		spec = raw[lt+1:]
		if gt := strings.IndexByte(spec, '>'); gt >= 0 {
			spec = spec[:gt]
		}
		if colon := strings.IndexByte(spec, ':'); colon >= 0 && strings.HasPrefix(spec, "@") {
			spec = spec[colon+1:] // RFC 5322 4.4 obs-route
		}
	} else {
		spec = stripComments(raw)
	}
	spec = strings.TrimSpace(spec)
	a := headerAddr{raw: raw}
	if spec == "" {
		return a
	}
	at := strings.LastIndexByte(spec, '@')
	if at < 0 {
		if strings.ContainsAny(spec, " \t\"") {
			return a
		}
		// A bare local part ("root") is an address without a domain.
		return headerAddr{raw: raw, local: spec, valid: true}
	}
	local, domain := unquoteLocal(strings.TrimSpace(spec[:at])), strings.TrimSpace(spec[at+1:])
	if local == "" || domain == "" || strings.ContainsAny(domain, " \t@\"") {
		return a
	}
	return headerAddr{raw: raw, local: local, domain: domain, valid: true}
}

func inQuotes(s string, at int) bool {
	quoted := false
	for i := 0; i < at; i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		}
	}
	return quoted
}

func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				quoted = false
			}
		case c == '"' && depth == 0:
			quoted = true
			b.WriteByte(c)
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// unquoteLocal removes the quotes of a quoted-string local part (RFC 5322 3.4.1).
func unquoteLocal(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
