package managesieve

import (
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"

	"mailgrid/internal/filter/sieve"
)

// implementation is the IMPLEMENTATION capability (RFC 5804 1.7).
const implementation = "mailgrid"

// capabilities holds what does not change per session: the SIEVE and MAXREDIRECTS
// values, computed once from Options.Sieve.
type capabilities struct {
	sieve        string
	maxRedirects int
}

func newCapabilities(opt Options) capabilities {
	var exts []string
	for _, c := range sieve.Capabilities() {
		// RFC 5228 2.7.3: the two basic comparators are always available.
		always := c == "comparator-i;octet" || c == "comparator-i;ascii-casemap"
		if opt.Sieve.Extensions == nil || always || slices.Contains(opt.Sieve.Extensions, c) {
			exts = append(exts, c)
		}
	}
	redirects := opt.Sieve.Limits.MaxRedirects
	if redirects <= 0 {
		redirects = sieve.DefaultLimits().MaxRedirects
	}
	return capabilities{sieve: strings.Join(exts, " "), maxRedirects: redirects}
}

// writeCapabilities sends the capability lines (RFC 5804 1.7) for the session's state,
// without the final OK:
//
//	IMPLEMENTATION  always
//	SASL            "PLAIN" over TLS, "" before it (allowed since STARTTLS is offered)
//	SIEVE           the extensions scripts may require (sieve.Capabilities, narrowed)
//	STARTTLS        before TLS only (RFC 5804 2.2: not after it)
//	MAXREDIRECTS    the redirects one run may do (RFC 5228 2.10.5 limit)
//	OWNER           the logged-in account, when authenticated
//	UNAUTHENTICATE  RFC 5804 2.14
//	VERSION         "1.0": this server follows RFC 5804 (capabilities after STARTTLS)
//
// NOTIFY is omitted: the enotify extension is not supported.
func (s *session) writeCapabilities() error {
	mechs := ""
	if s.c.tls != nil {
		mechs = sasl.Plain
	}
	lines := [][2]string{
		{"IMPLEMENTATION", implementation},
		{"SASL", mechs},
		{"SIEVE", s.srv.caps.sieve},
	}
	if s.c.tls == nil {
		lines = append(lines, [2]string{"STARTTLS", ""})
	}
	lines = append(lines, [2]string{"MAXREDIRECTS", strconv.Itoa(s.srv.caps.maxRedirects)})
	if s.acct != nil {
		lines = append(lines, [2]string{"OWNER", s.acct.Address.String()})
	}
	lines = append(lines, [2]string{"UNAUTHENTICATE", ""}, [2]string{"VERSION", "1.0"})
	for _, l := range lines {
		line := encodeString(l[0])
		if l[1] != "" || l[0] == "SASL" {
			line += " " + encodeString(l[1])
		}
		if err := s.c.reply(line); err != nil {
			return err
		}
	}
	return nil
}
