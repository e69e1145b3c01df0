package sieve

import (
	"strings"
	"testing"
)

// TestRFC5232Examples runs the imap4flags examples of RFC 5232 (section 6 and the
// command descriptions of section 3-5).
func TestRFC5232Examples(t *testing.T) {
	example := `require ["fileinto", "imap4flags", "variables"];
if header :contains "from" "boss@frobnitzm.example.edu" {
    setflag "flagvar" "\\Flagged";
    fileinto :flags "${flagvar}" "INBOX.From Boss";
}
if header :contains "Disposition-Notification-To" "mel@example.com" {
    addflag "flagvar" "$MDNRequired";
}
if header :contains "from" "imap@cac.washington.example.edu" {
    removeflag "flagvar" "$MDNRequired";
    fileinto :flags "${flagvar}" "INBOX.imap-list";
}`
	cases := []struct {
		name, script, msg, want string
	}{
		{"boss", example, hdrs("x", "From: boss@frobnitzm.example.edu"), `fileinto:INBOX.From Boss[\Flagged]`},
		{"mdn then removed", example,
			hdrs("x", "From: imap@cac.washington.example.edu", "Disposition-Notification-To: mel@example.com"),
			"fileinto:INBOX.imap-list"},
		{"implicit keep gets the internal variable", `require "imap4flags";
if size :over 1 { setflag "\\Deleted"; }`, hdrs("x", "From: a@b.example"), `keep(implicit)[\Deleted]`},
		{"addflag keeps order and case-insensitive uniqueness", `require "imap4flags";
addflag "\\Seen $Work"; addflag ["$work", "\\SEEN", "\\Flagged"]; keep;`, hdrs("x"), `keep[\Seen $Work \Flagged]`},
		{"removeflag", `require "imap4flags";
addflag "A B C"; removeflag "b"; keep;`, hdrs("x"), `keep[A C]`},
		{"keep :flags overrides the internal variable", `require "imap4flags";
addflag "A"; keep :flags "\\Answered";`, hdrs("x"), `keep[\Answered]`},
		{"fileinto takes the flags current when it runs", `require ["imap4flags", "fileinto"];
addflag "one"; fileinto "a"; addflag "two";`, hdrs("x"), `fileinto:a[one]`},
		{"invalid flags are ignored", `require "imap4flags";
addflag ["\\Recent", "bad(flag", "\\Bogus", "ok"]; keep;`, hdrs("x"), `keep[ok]`},
		{"hasflag on the internal variable", `require ["imap4flags", "fileinto"];
addflag "\\Flagged"; if hasflag :is "\\flagged" { fileinto "flagged"; }`, hdrs("x"), `fileinto:flagged[\Flagged]`},
		{"hasflag on variables with :contains", `require ["imap4flags", "variables", "fileinto"];
set "work" "Project-X Later"; if hasflag :contains "work" "proj" { fileinto "work"; }`, hdrs("x"), `fileinto:work`},
		{"hasflag :count", `require ["imap4flags", "relational", "comparator-i;ascii-numeric", "fileinto"];
addflag ["a", "b c"]; if hasflag :count "ge" :comparator "i;ascii-numeric" "3" { fileinto "three"; }`, hdrs("x"), `fileinto:three[a b c]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runScript(t, c.script, testMsg{raw: c.msg, from: "a@b.example"}, RunOptions{})
			if got := summary(res); got != c.want {
				t.Errorf("actions %q, want %q", got, c.want)
			}
		})
	}
}

func TestFlagsNeedVariablesForNames(t *testing.T) {
	_, err := Compile(`require "imap4flags"; setflag "var" "\\Seen";`, Options{})
	if err == nil || !strings.Contains(err.Error(), `1:31: a variable name requires the "variables" extension`) {
		t.Errorf("err = %v", err)
	}
}
