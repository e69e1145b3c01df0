package store

import (
	"errors"
	"strings"
	"testing"
)

func TestValidMailboxName(t *testing.T) {
	good := []string{
		"INBOX", "inbox", "Archive", "a/b/c", "INBOX/Sub", "Ünïcödé", "日本語/メール",
		"with space", "dots.in.name", "..x", "x..", "a+b&c", strings.Repeat("x", MaxMailboxComponentLen),
	}
	for _, n := range good {
		if err := ValidMailboxName(n); err != nil {
			t.Errorf("ValidMailboxName(%q) = %v, want nil", n, err)
		}
	}
	long := strings.Repeat(strings.Repeat("y", 99)+"/", 11)[:MaxMailboxNameLen+1]
	bad := []string{
		"", "/", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "a/..",
		"a*", "b%", "tab\there", "nl\nx", "del\x7f", "c1\u0085", "\xff\xfe",
		strings.Repeat("x", MaxMailboxComponentLen+1), long,
	}
	for _, n := range bad {
		err := ValidMailboxName(n)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidMailboxName(%q) = %v, want ErrInvalid", n, err)
		}
	}
}

func TestNormalizeMailboxName(t *testing.T) {
	cases := map[string]string{
		"inbox":        "INBOX",
		"InBoX":        "INBOX",
		"inbox/Child":  "INBOX/Child",
		"Inboxes":      "Inboxes",
		"Sent/inbox":   "Sent/inbox",
		"Cafe\u0301":   "Caf\u00e9", // NFD -> NFC
		"Archive/2024": "Archive/2024",
	}
	for in, want := range cases {
		got, err := NormalizeMailboxName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeMailboxName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormalizeMailboxName("a//b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("NormalizeMailboxName(a//b) = %v, want ErrInvalid", err)
	}
}

func TestMailboxParent(t *testing.T) {
	if p, ok := MailboxParent("a/b/c"); !ok || p != "a/b" {
		t.Errorf("MailboxParent(a/b/c) = %q %v", p, ok)
	}
	if p, ok := MailboxParent("a"); ok || p != "" {
		t.Errorf("MailboxParent(a) = %q %v", p, ok)
	}
	if !IsInbox("iNbOx") || IsInbox("INBOX/x") {
		t.Error("IsInbox wrong")
	}
}
