package sieve

import (
	"strings"
	"testing"
)

// TestRFC5229Expansion checks the expansion examples of RFC 5229 3 and the modifier
// examples of RFC 5229 4.1, through "reject" so the value is visible.
func TestRFC5229Expansion(t *testing.T) {
	cases := []struct{ set, value, want string }{
		{`set "company" "ACME";`, "${company}", "ACME"},
		{`set "company" "ACME";`, "${foo}", ""},
		{`set "company" "ACME";`, "${BAD${Company}", "${BADACME"},
		{`set "company" "ACME";`, "${President, ${Company} Inc.}", "${President, ACME Inc.}"},
		{`set "a" "juMBlEd lETteRS";`, "${a}", "juMBlEd lETteRS"},
		{`set "a" "juMBlEd lETteRS"; set :length "b" "${a}";`, "${b}", "15"},
		{`set "a" "juMBlEd lETteRS"; set :lower "b" "${a}";`, "${b}", "jumbled letters"},
		{`set "a" "juMBlEd lETteRS"; set :upperfirst "b" "${a}";`, "${b}", "JuMBlEd lETteRS"},
		{`set "a" "juMBlEd lETteRS"; set :upperfirst :lower "b" "${a}";`, "${b}", "Jumbled letters"},
		{`set :quotewildcard "b" "Rock*";`, "${b}", `Rock\*`},
		{`set :length "b" "héllo";`, "${b}", "5"},
		{`set "x" "${x}${x}a";`, "${x}", "a"},
		{`set "n" "1"; set "n" "${n}2";`, "${N}", "12"},
		{`set "a.b" "x";`, "", ""}, // invalid name: compile error, checked below
	}
	for _, c := range cases[:len(cases)-1] {
		script := `require ["variables", "reject"]; ` + c.set + ` reject "` + c.value + `";`
		res := runScript(t, script, testMsg{raw: personal, from: "a@b.example"}, RunOptions{})
		if got := res.Actions[0].Reason; got != c.want {
			t.Errorf("%s %q = %q, want %q", c.set, c.value, got, c.want)
		}
	}
	if _, err := Compile(`require "variables"; set "a.b" "x";`, Options{}); err == nil {
		t.Error(`set "a.b" compiled; RFC 5229 4 allows only identifiers`)
	}
}

func TestRFC5229MultilineVariables(t *testing.T) {
	script := `require ["variables", "reject"];
set "honorific" "Mr";
set "first_name" "Wile";
set "last_name" "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
reject "${vacation}";`
	res := runScript(t, script, testMsg{raw: personal, from: "a@b.example"}, RunOptions{})
	want := "Dear Mr Coyote,\r\nI'm out, please leave a message after the meep.\r\n"
	if got := res.Actions[0].Reason; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
}

// TestRFC5229MatchVariables runs the example of RFC 5229 3.2 against one message per
// branch.
func TestRFC5229MatchVariables(t *testing.T) {
	script := `require ["fileinto", "variables"];

if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}

# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.${1}"; stop;
}

# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} is always the empty string
    # ${2} is part of the domain name ("ACME.Example")
    fileinto "INBOX.business.${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}

if anyof (true, address :domain :matches "To" "*.com") {
    # The second test is never evaluated, so there are
    # still no match variables set.
    stop;
}`
	cases := []struct{ msg, want string }{
		{hdrs("x", "List-ID: Sieve discussion <sieve.ietf.org>", "Subject: hi"), "keep(implicit)"}, // no "@"
		{hdrs("x", "List-ID: The list <users@lists.example.org>", "Subject: hi"), "fileinto:INBOX.lists.users"},
		{hdrs("x", "Subject: [acme-users] [fwd] version 1.0 is out"), "fileinto:INBOX.lists.acme-users"},
		{hdrs("x", "To: coyote@ACME.Example.COM", "Subject: plain"), "fileinto:INBOX.business.ACME.Example"},
		{hdrs("x", "To: someone@example.org", "Subject: plain"), "keep(implicit)"},
	}
	for _, c := range cases {
		res := runScript(t, script, testMsg{raw: c.msg, from: "a@b.example"}, RunOptions{})
		if got := summary(res); got != c.want {
			t.Errorf("%q: %q, want %q", strings.Split(c.msg, "\n")[0], got, c.want)
		}
	}
}

func TestMatchVariableDetails(t *testing.T) {
	cases := []struct{ script, want string }{
		// ${0} is the whole value; "**" are two wildcards, the first as short as possible.
		{`if address :matches "To" "coyote@**.com" { reject "${0}|${1}|${2}"; }`, "coyote@ACME.Example.COM||ACME.Example"},
		{`if header :matches "Subject" "?ur*" { reject "${1}|${2}|${3}"; }`, "S|prise here|"},
		// A failed match leaves the variables as they were.
		{`if header :matches "Subject" "S*" {} if header :matches "Subject" "nope*" {} reject "${1}";`, "urprise here"},
		// :regex captures (draft-ietf-sieve-regex).
		{`require "regex"; if header :regex "Subject" "^(S[a-z]+) (.*)$" { reject "${1}|${2}|${0}"; }`, "Surprise|here|Surprise here"},
		// string test (RFC 5229 5).
		{`set "state" "x"; set "state" "${state} pending"; if string :matches " ${state} " "* pending *" { reject "ok ${1}"; }`, "ok  x"},
		{`require "relational"; if string :count "eq" ["a", "", "b"] "2" { reject "two"; }`, "two"},
	}
	msg := hdrs("x", "To: coyote@ACME.Example.COM", "Subject: Surprise here")
	for _, c := range cases {
		script := `require ["variables", "reject"]; ` + c.script
		res := runScript(t, script, testMsg{raw: msg, from: "a@b.example"}, RunOptions{})
		if len(res.Actions) == 0 || res.Actions[0].Reason != c.want {
			t.Errorf("%s\n got %q, want reason %q", c.script, summary(res), c.want)
		}
	}
}

func TestVariablesLimits(t *testing.T) {
	// Doubling a variable 20 times would reach 1 MiB; MaxStringBytes caps it.
	var b strings.Builder
	b.WriteString(`require ["variables", "reject"]; set "x" "0123456789";`)
	for range 20 {
		b.WriteString(`set "x" "${x}${x}";`)
	}
	b.WriteString(`set :length "n" "${x}"; reject "${n}";`)
	res := runScript(t, b.String(), testMsg{raw: personal, from: "a@b.example"}, RunOptions{})
	if got := res.Actions[0].Reason; got != "4096" {
		t.Errorf("length after doubling = %s, want the 4096 cap", got)
	}
	var many strings.Builder
	many.WriteString(`require "variables";`)
	for i := range 300 {
		many.WriteString(`set "v` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `" "1";`)
	}
	if _, err := Compile(many.String(), Options{}); err == nil || !strings.Contains(err.Error(), "more than 256 variables") {
		t.Errorf("300 variables: err = %v", err)
	}
}
