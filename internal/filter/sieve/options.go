package sieve

import "slices"

// Limits bound what one script may cost. Compile-time limits refuse a script; runtime
// limits end a run with a runtime error, which falls back to the implicit keep
// (RFC 5228 2.10.6). A zero field takes the default from DefaultLimits.
type Limits struct {
	MaxScriptBytes int   // size of the script source (Pigeonhole's default is 1 MiB too)
	MaxNesting     int   // depth of blocks and nested tests
	MaxCommands    int   // commands and tests in one script
	MaxActions     int   // actions one run may produce (RFC 5228 2.10.5)
	MaxRedirects   int   // redirect actions one run may produce (RFC 5228 2.10.5, 4.2)
	MaxStringBytes int   // length of an expanded string or variable value (RFC 5229 6)
	MaxVariables   int   // distinct variables in one script
	MaxBodyBytes   int64 // bytes of a body or body part read for the body test (RFC 5173)
	MaxMatchWork   int64 // character comparisons one run may spend on matching
}

// DefaultLimits returns the limits used for zero fields: generous for people, tight
// enough that a hostile script cannot hold a delivery for long.
func DefaultLimits() Limits {
	return Limits{
		MaxScriptBytes: 1 << 20,
		MaxNesting:     32,
		MaxCommands:    10000,
		MaxActions:     32,
		MaxRedirects:   4,
		MaxStringBytes: 4096,
		MaxVariables:   256,
		MaxBodyBytes:   1 << 20,
		MaxMatchWork:   100_000_000,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	pick64 := func(v, def int64) int64 {
		if v > 0 {
			return v
		}
		return def
	}
	return Limits{
		MaxScriptBytes: pick(l.MaxScriptBytes, d.MaxScriptBytes),
		MaxNesting:     pick(l.MaxNesting, d.MaxNesting),
		MaxCommands:    pick(l.MaxCommands, d.MaxCommands),
		MaxActions:     pick(l.MaxActions, d.MaxActions),
		MaxRedirects:   pick(l.MaxRedirects, d.MaxRedirects),
		MaxStringBytes: pick(l.MaxStringBytes, d.MaxStringBytes),
		MaxVariables:   pick(l.MaxVariables, d.MaxVariables),
		MaxBodyBytes:   pick64(l.MaxBodyBytes, d.MaxBodyBytes),
		MaxMatchWork:   pick64(l.MaxMatchWork, d.MaxMatchWork),
	}
}

// Options configure Compile.
type Options struct {
	// Extensions lists the capabilities scripts may require; nil means every one this
	// package supports (Capabilities). An administrator may leave out, say, "reject" or
	// "vacation". Unknown names are ignored.
	Extensions []string
	Limits     Limits
}

// Capabilities returns the extensions this package supports, sorted, as a ManageSieve
// server advertises them (RFC 5804 1.7 "SIEVE").
func Capabilities() []string {
	return []string{
		"body",                       // RFC 5173
		"comparator-i;ascii-casemap", // RFC 5228 2.7.3 (always available)
		"comparator-i;ascii-numeric", // RFC 4790 9.1
		"comparator-i;octet",         // RFC 5228 2.7.3 (always available)
		"copy",                       // RFC 3894
		"date",                       // RFC 5260
		"encoded-character",          // RFC 5228 2.4.2.4
		"envelope",                   // RFC 5228 5.4
		"ereject",                    // RFC 5429
		"fileinto",                   // RFC 5228 4.1
		"imap4flags",                 // RFC 5232
		"regex",                      // draft-ietf-sieve-regex, with Go's RE2 syntax
		"reject",                     // RFC 5429
		"relational",                 // RFC 5231
		"subaddress",                 // RFC 5233
		"vacation",                   // RFC 5230
		"variables",                  // RFC 5229
	}
}

func (o Options) enabled() map[string]bool {
	m := map[string]bool{}
	for _, s := range Capabilities() {
		if o.Extensions == nil || slices.Contains(o.Extensions, s) {
			m[s] = true
		}
	}
	// RFC 5228 2.7.3: these two comparators are always available.
	m["comparator-i;octet"], m["comparator-i;ascii-casemap"] = true, true
	return m
}
