package postgres

import (
	"fmt"
	"slices"
	"strings"

	"mailgrid/internal/store"
)

// The flag rules are the SQLite driver's (same semantics); they belong in package store
// so both drivers share one copy.

// systemFlag returns the canonical spelling of a system flag (RFC 9051 2.3.2: flags are
// case-insensitive), or false for a flag that is not one.
func systemFlag(f string) (string, bool) {
	switch strings.ToLower(f) {
	case `\seen`:
		return store.FlagSeen, true
	case `\answered`:
		return store.FlagAnswered, true
	case `\flagged`:
		return store.FlagFlagged, true
	case `\deleted`:
		return store.FlagDeleted, true
	case `\draft`:
		return store.FlagDraft, true
	}
	return "", false
}

// normalizeFlags validates flags and returns them canonical, deduplicated
// (case-insensitively) and sorted. \Recent is dropped: a session flag of IMAP4rev1 that
// RFC 9051 removed and that no client may set (RFC 3501 2.3.2).
func normalizeFlags(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, f := range in {
		if strings.EqualFold(f, `\Recent`) {
			continue
		}
		if strings.HasPrefix(f, `\`) {
			c, ok := systemFlag(f)
			if !ok {
				return nil, fmt.Errorf("unknown system flag %q: %w", f, store.ErrInvalid)
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
// without atom-specials). So a keyword never holds a space, which joinFlags relies on.
func validKeyword(k string) error {
	if k == "" || len(k) > 255 {
		return fmt.Errorf("keyword %q: bad length: %w", k, store.ErrInvalid)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return fmt.Errorf("keyword %q: character %q not allowed in an atom: %w", k, c, store.ErrInvalid)
		}
	}
	return nil
}

func containsFold(list []string, f string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, f) })
}

// applyFlags computes a message's flags after a STORE (RFC 9051 6.4.6). cur and flags are
// normalised; so is the result.
func applyFlags(cur []string, op store.FlagOp, flags []string) []string {
	out := []string{}
	switch op {
	case store.FlagsSet:
		out = append(out, flags...)
	case store.FlagsAdd:
		out = append(out, cur...)
		for _, f := range flags {
			if !containsFold(out, f) {
				out = append(out, f)
			}
		}
	case store.FlagsRemove:
		for _, f := range cur {
			if !containsFold(flags, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}

func sameFlags(a, b []string) bool { return slices.EqualFunc(a, b, strings.EqualFold) }

func hasSeen(flags []string) bool { return slices.Contains(flags, store.FlagSeen) }

// joinFlags gives a flag list as one string for an unnest() array parameter; SQL splits
// it again with string_to_array(f, ' '); the empty string is the empty list.
func joinFlags(flags []string) string { return strings.Join(flags, " ") }
