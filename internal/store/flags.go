package store

import (
	"fmt"
	"slices"
	"strings"
)

// The flag rules every driver applies, so that a flag list means the same in each: flags
// are kept canonical (system flags in their RFC spelling), de-duplicated
// case-insensitively and sorted.

// systemFlag returns the canonical spelling of a system flag (RFC 9051 2.3.2: flags are
// case-insensitive), or false for a flag that is not one.
func systemFlag(f string) (string, bool) {
	switch strings.ToLower(f) {
	case `\seen`:
		return FlagSeen, true
	case `\answered`:
		return FlagAnswered, true
	case `\flagged`:
		return FlagFlagged, true
	case `\deleted`:
		return FlagDeleted, true
	case `\draft`:
		return FlagDraft, true
	}
	return "", false
}

// NormalizeFlags validates flags and returns them canonical, deduplicated
// (case-insensitively) and sorted; an unknown system flag or a keyword that is not an
// atom is ErrInvalid. \Recent is dropped: it is a session flag of IMAP4rev1 that RFC 9051
// removed and that no client may set (RFC 3501 2.3.2). The result is never nil.
func NormalizeFlags(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, f := range in {
		if strings.EqualFold(f, `\Recent`) {
			continue
		}
		if strings.HasPrefix(f, `\`) {
			c, ok := systemFlag(f)
			if !ok {
				return nil, fmt.Errorf("unknown system flag %q: %w", f, ErrInvalid)
			}
			f = c
		} else if err := validKeyword(f); err != nil {
			return nil, err
		}
		if !containsFold(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

// validKeyword checks a keyword is an IMAP atom (RFC 9051 9: flag-keyword = atom, ASCII
// without atom-specials). So a keyword never holds a space, which drivers storing a flag
// list as one space-separated string rely on.
func validKeyword(k string) error {
	if k == "" || len(k) > 255 {
		return fmt.Errorf("keyword %q: bad length: %w", k, ErrInvalid)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return fmt.Errorf("keyword %q: character %q not allowed in an atom: %w", k, c, ErrInvalid)
		}
	}
	return nil
}

func containsFold(list []string, f string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, f) })
}

// ApplyFlags computes a message's flags after a STORE (RFC 9051 6.4.6). cur and flags are
// normalised (NormalizeFlags); so is the result, which is never nil.
func ApplyFlags(cur []string, op FlagOp, flags []string) []string {
	out := []string{}
	switch op {
	case FlagsSet:
		out = append(out, flags...)
	case FlagsAdd:
		out = append(out, cur...)
		for _, f := range flags {
			if !containsFold(out, f) {
				out = append(out, f)
			}
		}
	case FlagsRemove:
		for _, f := range cur {
			if !containsFold(flags, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// SameFlags reports whether two normalised flag lists hold the same flags.
func SameFlags(a, b []string) bool { return slices.EqualFunc(a, b, strings.EqualFold) }

// HasSeen reports whether a normalised flag list holds \Seen.
func HasSeen(flags []string) bool { return slices.Contains(flags, FlagSeen) }
