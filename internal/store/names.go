package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Mailbox name limits. RFC 9051 sets none; these bound what a name can cost a filesystem
// export or an index, and match what mature servers accept (Dovecot's mailbox_list_limits).
const (
	MailboxSeparator       = "/"
	MaxMailboxNameLen      = 1000 // bytes, the whole name
	MaxMailboxComponentLen = 255  // bytes, one "/"-separated component
)

// ValidMailboxName reports whether name is acceptable as a mailbox name. The returned error
// wraps ErrInvalid and says why. Rules: valid UTF-8 (RFC 9051 5.1: names are UTF-8, never
// modified UTF-7 inside the store); "/" is the hierarchy separator (RFC 9051 6.3.4), so no
// empty component and no leading or trailing "/"; no "." or ".." component (they would
// alias a parent in any filesystem export); no control characters; no "*" or "%", which
// are the LIST wildcards (RFC 9051 6.3.9) and could never be matched literally; at most
// MaxMailboxComponentLen bytes per component and MaxMailboxNameLen in all.
func ValidMailboxName(name string) error {
	if name == "" {
		return fmt.Errorf("mailbox name is empty: %w", ErrInvalid)
	}
	if len(name) > MaxMailboxNameLen {
		return fmt.Errorf("mailbox name longer than %d bytes: %w", MaxMailboxNameLen, ErrInvalid)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("mailbox name is not UTF-8: %w", ErrInvalid)
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r):
			return fmt.Errorf("mailbox name contains control character %U: %w", r, ErrInvalid)
		case r == '*' || r == '%':
			return fmt.Errorf("mailbox name contains wildcard %q: %w", r, ErrInvalid)
		}
	}
	for _, c := range strings.Split(name, MailboxSeparator) {
		switch {
		case c == "":
			return fmt.Errorf("mailbox name %q has an empty component: %w", name, ErrInvalid)
		case c == "." || c == "..":
			return fmt.Errorf("mailbox name %q has a %q component: %w", name, c, ErrInvalid)
		case len(c) > MaxMailboxComponentLen:
			return fmt.Errorf("mailbox name component longer than %d bytes: %w", MaxMailboxComponentLen, ErrInvalid)
		}
	}
	return nil
}

// NormalizeMailboxName validates name and returns the form the store keys on: Unicode NFC
// (so the same name typed on two systems is one mailbox, as mox does) and "INBOX" as the
// first component in upper case, since INBOX is case-insensitive (RFC 9051 5.1) and so are
// its inferiors' first component ("inbox/x" is "INBOX/x", as Dovecot treats it).
func NormalizeMailboxName(name string) (string, error) {
	if err := ValidMailboxName(name); err != nil {
		return "", err
	}
	name = norm.NFC.String(name)
	first, rest, hasRest := strings.Cut(name, MailboxSeparator)
	if strings.EqualFold(first, Inbox) {
		if !hasRest {
			return Inbox, nil
		}
		name = Inbox + MailboxSeparator + rest
	}
	// NFC can merge runes and so change byte lengths; re-check the limits.
	if err := ValidMailboxName(name); err != nil {
		return "", err
	}
	return name, nil
}

// IsInbox reports whether name denotes INBOX (case-insensitive, RFC 9051 5.1).
func IsInbox(name string) bool {
	return strings.EqualFold(name, Inbox)
}

// MailboxParent returns the name of name's parent and true, or "" and false at the top.
func MailboxParent(name string) (string, bool) {
	i := strings.LastIndex(name, MailboxSeparator)
	if i < 0 {
		return "", false
	}
	return name[:i], true
}
