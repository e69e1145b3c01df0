package sieve

import (
	"errors"
	"strings"
	"testing"
)

// TestCompileErrorPositions: every invalid script is refused with the line:column of
// the construct at fault.
func TestCompileErrorPositions(t *testing.T) {
	cases := []struct{ script, want string }{
		{`if true { keep; `, `1:9: block opened here is not closed`},
		{"keep;\nkeep", `2:5: missing ";" after command "keep"`},
		{"keep;\n\nif true {\n  stop;\n  discard\n}", `6:1: expected ";" or "{" after the arguments of "discard", found "}"`},
		{`fileinto "x";`, `1:1: fileinto requires the "fileinto" extension`},
		{`require "fileinto"; keep; require "vacation";`, `1:27: require must come before any other command`},
		{`require "nonexistent";`, `1:9: unsupported extension "nonexistent"`},
		{`if header :is "a" { keep; }`, `1:4: header: missing key list`},
		{`foo;`, `1:1: unknown command "foo"`},
		{`if bar {}`, `1:4: unknown test "bar"`},
		{`header "a" "b";`, `1:1: "header" is a test, not a command`},
		{`keep :flags "x";`, `1:6: :flags requires the "imap4flags" extension`},
		{`keep :bogus;`, `1:6: unknown tag :bogus for keep`},
		{`if header "a" :is "b" {}`, `1:15: header: expected key list (a string list), found tag :is`},
		{"\n  \"unterminated", `2:3: unterminated string`},
		{`keep; /* no end`, `1:7: unterminated bracket comment`},
		{"require \"reject\";\nreject text:\nno dot line\n", `2:8: unterminated multi-line string`},
		{"reject text: junk\n.\n;", `1:8: text: must be followed by the end of the line`},
		{`elsif true {}`, `1:1: elsif without a preceding if`},
		{`if true {} keep; else {}`, `1:18: else without a preceding if`},
		{`if true {} else {} else {}`, `1:20: else without a preceding if`},
		{`if size 100 {}`, `1:4: size needs :over or :under`},
		{`if header :is :contains "a" "b" {}`, `1:15: header: only one match type may be given`},
		{`if header :is :is "a" "b" {}`, `1:15: tag :is given more than once`},
		{`if header :comparator "i;bogus" "a" "b" {}`, `1:23: unknown comparator "i;bogus"`},
		{`if header :comparator "i;ascii-numeric" "a" "b" {}`, `1:23: comparator i;ascii-numeric requires the "comparator-i;ascii-numeric" extension`},
		{`require "comparator-i;ascii-numeric"; if header :matches :comparator "i;ascii-numeric" "a" "b" {}`, `1:49: comparator i;ascii-numeric cannot be used with this match type`},
		{`require "regex"; if header :regex "subject" "([" {}`, `1:45: invalid regular expression "(["`},
		{`if header :count "ge" "a" "1" {}`, `1:11: :count requires the "relational" extension`},
		{`require "relational"; if header :value "bigger" "a" "1" {}`, `1:40: unknown relation "bigger"`},
		{`if size :over 99999999999999999999 {}`, `1:15: number too large`},
		{`if size :over 9999999999G {}`, `1:15: number too large`},
		{`if size :over 10X {}`, `1:17: unexpected character 'X' after number`},
		{`if address :is "subject" "x" {}`, `1:16: header "subject" does not hold addresses`},
		{`if header :is "bad name" "x" {}`, `1:15: invalid header name "bad name"`},
		{`require "envelope"; if envelope :is "auth" "x" {}`, `1:37: envelope part "auth" is not supported`},
		{`if true { stop; }}`, `1:18: unexpected "}"`},
		{`discard "x";`, `1:9: discard: unexpected extra argument (a string)`},
		{`if true;`, `1:1: if needs a block`},
		{`keep {}`, `1:1: keep takes no block`},
		{`if not (true, false) {}`, `1:4: not takes exactly one test`},
		{`if anyof () {}`, `1:11: expected a command or test name, found ")"`},
		{`if anyof (true false) {}`, `1:16: true takes no test`}, // "true false" is a test with a test argument
		{`if anyof (true; false) {}`, `1:15: expected "," or ")" in the test list, found ";"`},
		{`if header ["a" "b"] "c" {}`, `1:16: expected "," or "]" in the string list, found string`},
		{`if true { keep; } @`, `1:19: unexpected character '@'`},
		{`redirect "not an address";`, `1:10: redirect: invalid address "not an address"`},
		{`require "fileinto"; fileinto "";`, `1:30: fileinto: empty mailbox name`},
		{`require "variables"; set "1" "x";`, `1:26: invalid variable name "1"`},
		{`require "variables"; set :lower :upper "a" "x";`, `1:33: set: modifier :upper cannot be combined`},
		{`require "variables"; keep; if header :is "a" "${ns.x}" {}`, `1:46: unknown variable namespace "ns"`},
		{`require "date"; if currentdate :zone "0100" "date" "x" {}`, `1:38: invalid time zone "0100"`},
		{`require "date"; if currentdate "fortnight" "x" {}`, `1:32: unknown date part "fortnight"`},
		{"keep;\xff", `1:6: script is not valid UTF-8`},
		{`: keep;`, `1:1: ':' must be followed by a tag name`},
	}
	for _, c := range cases {
		_, err := Compile(c.script, Options{})
		var se *Error
		if !errors.As(err, &se) {
			t.Errorf("%q: err = %v, want %q", c.script, err, c.want)
			continue
		}
		if got := se.Pos.String() + ": " + se.Msg; !strings.HasPrefix(got, c.want) {
			t.Errorf("%q:\n got  %s\n want %s", c.script, got, c.want)
		}
	}
}

func TestDisabledExtension(t *testing.T) {
	opt := Options{Extensions: []string{"fileinto", "envelope"}}
	if _, err := Compile(`require "fileinto"; fileinto "x";`, opt); err != nil {
		t.Errorf("enabled extension: %v", err)
	}
	_, err := Compile(`require "reject"; reject "x";`, opt)
	if err == nil || !strings.Contains(err.Error(), `unsupported extension "reject"`) {
		t.Errorf("disabled extension: %v", err)
	}
}

func TestCompileLimits(t *testing.T) {
	cases := []struct {
		name   string
		script string
		lim    Limits
		want   string
	}{
		{"script size", strings.Repeat("keep;", 300), Limits{MaxScriptBytes: 1000}, "over the limit of 1000"},
		{"block nesting", strings.Repeat("if true {", 100) + strings.Repeat("}", 100), Limits{}, "nesting deeper than 32 levels"},
		{"test nesting", "if " + strings.Repeat("not ", 100) + "true {}", Limits{}, "nesting deeper than 32 levels"},
		{"test list nesting", "if " + strings.Repeat("anyof(", 100) + "true" + strings.Repeat(")", 100) + " {}", Limits{}, "nesting deeper than 32 levels"},
		{"commands", strings.Repeat("keep;", 20001), Limits{}, "more than 10000 commands and tests"},
		{"variables", `require "variables"; set "a" "1"; set "b" "2"; set "c" "3";`, Limits{MaxVariables: 2}, "more than 2 variables"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.script, Options{Limits: c.lim})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	// Just inside the limits compiles.
	if _, err := Compile(strings.Repeat("if true {", 31)+strings.Repeat("}", 31), Options{}); err != nil {
		t.Errorf("31 nested blocks: %v", err)
	}
}
