package sieve

import (
	"os"
	"testing"
)

// TestRFC5228Section9 runs the extended example of RFC 5228 section 9 (as published,
// with its upper-case ":DOMAIN" and "NOT") against one message per branch.
func TestRFC5228Section9(t *testing.T) {
	src, err := os.ReadFile("testdata/scripts/rfc5228-9.sieve")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		msg  string
		want string
	}{
		{"mailing list", hdrs("hi", "Sender: owner-ietf-mta-filters@imc.org", "From: a@imc.org", "To: me@example.com"),
			"fileinto:filter"},
		{"company sender", hdrs("hi", "From: Boss <boss@EXAMPLE.com>", "To: someone@elsewhere.example"),
			"keep"},
		{"not to me", hdrs("hi", "From: x@other.example", "To: you@other.example", "Subject: hello"),
			"fileinto:spam"},
		{"spam subject", hdrs("hi", "From: x@other.example", "To: list@other.example", "Cc: me@example.com", "Subject: How to MAKE big money FAST"),
			"fileinto:spam"},
		{"personal", hdrs("hi", "From: friend@other.example", "Cc: me@example.com", "To: group@other.example", "Subject: dinner"),
			"fileinto:personal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runScript(t, string(src), testMsg{raw: c.msg, from: "x@other.example"}, RunOptions{})
			if got := summary(res); got != c.want {
				t.Errorf("actions = %q, want %q", got, c.want)
			}
		})
	}
}

// TestRFC5228Examples runs the inline examples of RFC 5228 (section numbers in names).
func TestRFC5228Examples(t *testing.T) {
	plain := hdrs("Hello.\n", "From: coyote@desert.example.org", "To: roadrunner@acme.example.com",
		"Subject: I have a present for you", "Date: Sat, 14 Mar 2026 10:00:00 +0000")
	cases := []struct {
		name   string
		script string
		msg    string
		want   string
	}{
		{"3.1 if/elsif/else first", `
if header :contains ["From"] ["coyote"] {
   redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
}`, plain, "redirect:acm@example.com"},
		{"3.1 if/elsif/else second", `
if header :contains ["From"] ["coyote"] {
   redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
}`, hdrs("x", "From: a@b.example", "Subject: win $$$ now"), "redirect:postmaster@example.com"},
		{"3.1 if/elsif/else else", `
if header :contains ["From"] ["coyote"] {
   redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
}`, hdrs("x", "From: a@b.example", "Subject: hello"), "redirect:field@example.com"},
		{"3.3 stop keeps implicitly", `if true { stop; } discard;`, plain, "keep(implicit)"},
		{"4.1 fileinto", `
require "fileinto";
if header :contains ["from"] "coyote" {
   fileinto "INBOX.harassment";
}`, plain, "fileinto:INBOX.harassment"},
		{"4.2 redirect", `redirect "bart@example.com";`, plain, "redirect:bart@example.com"},
		{"4.3 keep", `if size :under 1M { keep; } else { discard; }`, plain, "keep"},
		{"4.4 discard", `
if header :contains ["from"] ["coyote@desert.example.org"] {
   discard;
}`, plain, "discard"},
		{"5.1 address :all :is", `if address :all :is "from" "coyote@desert.example.org" { discard; }`, plain, "discard"},
		{"5.1 address :localpart", `if address :localpart :is "from" "coyote" { discard; }`, plain, "discard"},
		{"5.1 address :domain", `if address :domain :is "to" "ACME.example.com" { discard; }`, plain, "discard"},
		{"5.2 allof", `if allof (header :contains "From" "coyote", header :contains "Subject" "present") { discard; }`, plain, "discard"},
		{"5.2 allof false", `if allof (header :contains "From" "coyote", header :contains "Subject" "Sieve") { discard; }`, plain, "keep(implicit)"},
		{"5.3 anyof", `if anyof (header :contains "From" "nobody", header :contains "Subject" "present") { discard; }`, plain, "discard"},
		{"5.4 envelope", `
require "envelope";
if envelope :all :is "from" "tim@example.com" {
   discard;
}`, plain, "discard"},
		{"5.5 exists", `if exists ["From","Date"] { discard; }`, plain, "discard"},
		{"5.5 exists missing", `if exists ["From","X-Nope"] { discard; }`, plain, "keep(implicit)"},
		{"5.6 false", `if false { discard; }`, plain, "keep(implicit)"},
		{"5.7 header empty key", `if header :contains "Subject" "" { discard; }`, plain, "discard"},
		{"5.7 header absent", `if not header :contains "X-Absent" "" { discard; }`, plain, "discard"},
		{"5.8 not", `if not exists "X-Spam" { discard; }`, plain, "discard"},
		{"5.9 size :over 100K", `if size :over 100K { discard; }`, plain, "keep(implicit)"},
		{"5.9 size :under 100K", `if size :under 100K { discard; }`, plain, "discard"},
		{"2.7.1 :matches ?", `if header :matches "Subject" "I have a present for yo?" { discard; }`, plain, "discard"},
		{"2.7.1 :matches escaped", `if header :matches "Subject" "*\\*" { discard; }`, plain, "keep(implicit)"},
		{"2.7.3 comparator octet", `if header :is :comparator "i;octet" "Subject" "i have a present for you" { discard; }`, plain, "keep(implicit)"},
		{"2.7.3 casemap default", `if header :is "Subject" "i have a present for you" { discard; }`, plain, "discard"},
		{"2.10.2 implicit keep after fileinto :copy", `require ["fileinto","copy"]; fileinto :copy "x";`, plain, "fileinto:x:copy keep(implicit)"},
		{"2.10.3 duplicates", `require "fileinto"; fileinto "x"; fileinto "x"; keep; keep;`, plain, "fileinto:x keep"},
		{"multi-line text", `require "reject";
reject text:
I am not taking mail from you, and I don't want
..your birdseed, either!
.
;`, plain, "reject:I am not taking mail from you, and I don't want\r\n.your birdseed, either!\r\n"},
		{"comments", `/* a bracket
comment */ if true # trailing
{ discard; /* inner */ }`, plain, "discard"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runScript(t, c.script, testMsg{raw: c.msg, from: "tim@example.com"}, RunOptions{})
			if got := summary(res); got != c.want {
				t.Errorf("actions = %q, want %q", got, c.want)
			}
		})
	}
}
