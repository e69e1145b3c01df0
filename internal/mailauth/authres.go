package mailauth

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// maxReasonLen bounds a reason in Authentication-Results.
const maxReasonLen = 200

// ComposeAuthResults returns the Authentication-Results field (RFC 8601 2.2) that
// authservID (our host name, RFC 8601 2.5) adds for the given results, one resinfo per
// line, ending in CRLF. spf or dmarc nil leaves that method out; dkim with no results is
// reported as dkim=none (RFC 8601 2.7.1). Methods and properties: spf with smtp.mailfrom
// or smtp.helo (RFC 8601 2.7.2), dkim with header.d, header.i, header.s, header.a,
// header.b (RFC 8601 2.7.1, RFC 6008), dmarc with header.from (RFC 7489 11.2).
func ComposeAuthResults(authservID string, spf *SPFResult, dkim []DKIMResult, dmarc *DMARCResult) string {
	var infos []string
	if spf != nil {
		infos = append(infos, formatResinfo(spfResinfo(*spf)))
	}
	if len(dkim) == 0 {
		infos = append(infos, formatResinfo(&authres.DKIMResult{Value: authres.ResultNone}))
	}
	for _, d := range dkim {
		infos = append(infos, formatResinfo(dkimResinfo(d)))
	}
	if dmarc != nil {
		infos = append(infos, formatResinfo(&authres.DMARCResult{
			Value: authres.ResultValue(dmarc.Status), Reason: reason(dmarcReason(*dmarc)), From: dmarc.FromDomain,
		}))
	}
	return "Authentication-Results: " + authservID + ";\r\n\t" + strings.Join(infos, ";\r\n\t") + "\r\n"
}

func spfResinfo(r SPFResult) authres.Result {
	res := &authres.SPFResult{Value: authres.ResultValue(r.Status)}
	if r.Status != StatusPass {
		res.Reason = reason(r.Reason)
	}
	switch {
	case r.Identity == IdentityHELO:
		res.Helo = r.Domain
	case printable(r.Sender):
		res.From = r.Sender
	default:
		res.From = r.Domain // RFC 8601 2.7.2 allows the domain alone; no raw UTF-8 or quotes
	}
	return res
}

func dkimResinfo(d DKIMResult) authres.Result {
	params := map[string]string{
		"header.d": d.Domain, "header.i": d.Identifier, "header.s": d.Selector,
		"header.a": d.Algorithm, "header.b": d.HeaderB,
	}
	if d.Status != StatusPass {
		params["reason"] = reason(d.Reason)
	}
	for k, v := range params {
		if !printable(v) {
			delete(params, k) // a hostile signature's tags never reach the header raw
		}
	}
	return &authres.GenericResult{Method: "dkim", Value: authres.ResultValue(d.Status), Params: params}
}

func dmarcReason(d DMARCResult) string {
	switch d.Status {
	case StatusFail:
		return "p=" + string(d.Policy) + " dis=" + string(d.Disposition)
	case StatusPass:
		return ""
	}
	return d.Reason
}

// formatResinfo formats one resinfo with go-msgauth's quoting rules.
func formatResinfo(r authres.Result) string {
	s := authres.Format("x", []authres.Result{r})
	return strings.TrimSpace(strings.TrimPrefix(s, "x; "))
}

// reason makes a reason safe for the header: printable ASCII, bounded, and without ";"
// or quotes, which naive Authentication-Results parsers (go-msgauth's among them) split
// on even inside a quoted-string.
func reason(s string) string {
	s = strings.NewReplacer(";", ",", `"`, "'", `\`, "/").Replace(s)
	return printableASCII(s, maxReasonLen)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ';' || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return true
}

// AuthServID returns the authserv-id of an Authentication-Results field value
// (RFC 8601 2.2: [CFWS] authserv-id ..., where authserv-id is a token or a quoted-string,
// RFC 2045 5.1), comments and folding skipped. ok is false for a value without one.
func AuthServID(value string) (id string, ok bool) {
	i, ok := skipCFWS(value, 0)
	if !ok || i == len(value) {
		return "", false
	}
	if value[i] == '"' {
		return quotedString(value, i)
	}
	j := i
	for j < len(value) && isTokenChar(value[j]) {
		j++
	}
	return value[i:j], j > i
}

// ClaimsAuthServID reports whether an Authentication-Results field value claims the
// authserv-id ours (host names compare case-insensitively). Such fields in arriving mail
// are forgeries or stale, and MUST be removed (RFC 8601 5).
func ClaimsAuthServID(value, ours string) bool {
	id, ok := AuthServID(value)
	return ok && strings.EqualFold(strings.TrimSuffix(id, "."), strings.TrimSuffix(ours, "."))
}

// skipCFWS skips white space, line breaks and (nested) comments (RFC 5322 3.2.2) from i.
// ok is false for an unterminated comment.
func skipCFWS(s string, i int) (int, bool) {
	depth := 0
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && depth > 0:
			i++ // quoted-pair inside a comment
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0 || c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			return i, true
		}
	}
	return i, depth == 0
}

// quotedString reads the quoted-string starting at s[i] == '"' and returns its content.
func quotedString(s string, i int) (string, bool) {
	var b strings.Builder
	for i++; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), b.Len() > 0
		case '\\':
			if i+1 == len(s) {
				return "", false
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// isTokenChar: RFC 2045 5.1 token, any US-ASCII but SPACE, CTLs and tspecials.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}
