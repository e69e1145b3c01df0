package sieve

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// personal is a message addressed to the user, from a person.
var personal = hdrs("Are you there?\n",
	"From: Mike <mike@example.org>",
	"To: me@example.com",
	"Subject: lunch tomorrow",
	"Message-ID: <m1@example.org>",
	"References: <m0@example.org>",
	"Accept-Language: en")

func vacationOf(t *testing.T, res *Result) *VacationAction {
	t.Helper()
	for _, a := range res.Actions {
		if a.Kind == ActionVacation {
			return a.Vacation
		}
	}
	t.Fatalf("no vacation action in %q (skipped: %q)", summary(res), res.VacationSkipped)
	return nil
}

// TestRFC5230Examples runs the examples of RFC 5230 4.8 and 4.1-4.5.
func TestRFC5230Examples(t *testing.T) {
	cases := []struct {
		name, script, msg string
		check             func(t *testing.T, v *VacationAction)
	}{
		{"4.8 if/else reason", `
require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
}`, personal, func(t *testing.T, v *VacationAction) {
			if v.Reason != "I'm out -- call me at +1 304 555 0123" || v.Days != 7 {
				t.Errorf("reason %q days %d", v.Reason, v.Days)
			}
			if v.Subject != "Auto: lunch tomorrow" {
				t.Errorf("subject %q, want the RFC 5230 default", v.Subject)
			}
			if v.To != "mike@example.org" || v.Recipient != "me@example.com" {
				t.Errorf("to %q recipient %q", v.To, v.Recipient)
			}
			if v.InReplyTo != "<m1@example.org>" || v.References != "<m0@example.org> <m1@example.org>" {
				t.Errorf("threading %q / %q", v.InReplyTo, v.References)
			}
		}},
		{"4.8 :days and :addresses", `
require "vacation";
vacation :days 23 :addresses ["tjs@example.edu",
                              "ts4z@landru.example.edu"]
   "I'm away until October 19.
   If it's an emergency, call 911, I guess." ;`,
			strings.Replace(personal, "To: me@example.com", "To: Tim <ts4z@landru.example.edu>", 1),
			func(t *testing.T, v *VacationAction) {
				if v.Days != 23 || v.Recipient != "ts4z@landru.example.edu" {
					t.Errorf("days %d recipient %q", v.Days, v.Recipient)
				}
				if !strings.HasPrefix(v.Reason, "I'm away until October 19.\n") {
					t.Errorf("reason %q", v.Reason)
				}
			}},
		{"4.8 language", `
require "vacation";
if header :contains ["accept-language", "content-language"] "en"
{
    vacation "I am away this week.";
} else {
    vacation "Estoy ausente esta semana.";
}`, personal, func(t *testing.T, v *VacationAction) {
			if v.Reason != "I am away this week." {
				t.Errorf("reason %q", v.Reason)
			}
		}},
		{"4.8 :subject", `
require "vacation";
if address :matches "from" "*@ourdivision.example.com"
{
    vacation :subject "Gone fishing"
             "Having lots of fun! Back in a day or two!";
} else {
    vacation :subject "Je suis parti cette semaine"
             "Je lirai votre message quand je retourne.";
}`, personal, func(t *testing.T, v *VacationAction) {
			if v.Subject != "Je suis parti cette semaine" {
				t.Errorf("subject %q", v.Subject)
			}
		}},
		{"4.2 :handle", `
require "vacation";
if header :contains "subject" "lunch" {
    vacation :handle "ran-away" "I'm out and can't meet for lunch";
} else {
    vacation :handle "ran-away" "I'm out";
}`, personal, func(t *testing.T, v *VacationAction) {
			if v.Handle != "ran-away" || v.Reason != "I'm out and can't meet for lunch" {
				t.Errorf("handle %q reason %q", v.Handle, v.Reason)
			}
		}},
		{"4.3 :from", `require "vacation";
vacation :days 7 :from "hemingway@example.com" "Gone fishing";`, personal,
			func(t *testing.T, v *VacationAction) {
				if v.From != "hemingway@example.com" {
					t.Errorf("from %q", v.From)
				}
			}},
		{"4.1 :days clamped", `require "vacation"; vacation :days 0 "x";`, personal,
			func(t *testing.T, v *VacationAction) {
				if v.Days != vacationMinDays {
					t.Errorf("days %d", v.Days)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runScript(t, c.script, testMsg{raw: c.msg, from: "mike@example.org"}, RunOptions{})
			c.check(t, vacationOf(t, res))
			// RFC 5230 4.7: vacation leaves the implicit keep alone.
			if last := res.Actions[len(res.Actions)-1]; last.Kind != ActionKeep || !last.Implicit {
				t.Errorf("actions %q: implicit keep missing", summary(res))
			}
		})
	}
}

func TestRFC5230MIME(t *testing.T) {
	src, err := os.ReadFile("testdata/scripts/rfc5230-mime.sieve")
	if err != nil {
		t.Fatal(err)
	}
	v := vacationOf(t, runScript(t, string(src), testMsg{raw: personal, from: "mike@example.org"}, RunOptions{}))
	if !v.MIME || !strings.HasPrefix(v.Reason, "Content-Type: multipart/alternative; boundary=foo\r\n\r\n--foo\r\n") ||
		!strings.HasSuffix(v.Reason, "--foo--\r\n") {
		t.Errorf("mime %v reason %q", v.MIME, v.Reason)
	}
}

// TestRFC5230RedirectElseVacation is the boss example: redirect or reply, never both.
func TestRFC5230RedirectElseVacation(t *testing.T) {
	script := `require "vacation";
if header :contains "from" "boss@example.edu" {
    redirect "pleeb@xanadu.example.edu";
} else {
    vacation "Sorry, I'm away, I'll read your message when I get around to it.";
}`
	boss := strings.Replace(personal, "From: Mike <mike@example.org>", "From: boss@example.edu", 1)
	if got := summary(runScript(t, script, testMsg{raw: boss, from: "boss@example.edu"}, RunOptions{})); got != "redirect:pleeb@xanadu.example.edu" {
		t.Errorf("boss: %q", got)
	}
	if got := summary(runScript(t, script, testMsg{raw: personal, from: "mike@example.org"}, RunOptions{})); got != "vacation:mike@example.org keep(implicit)" {
		t.Errorf("other: %q", got)
	}
}

// TestVacationLoopRules is the table of RFC 3834 / RFC 5230 4.5-4.6 rules: when an
// auto-reply must not be sent.
func TestVacationLoopRules(t *testing.T) {
	const script = `require "vacation"; vacation :addresses "alias@example.net" "away";`
	with := func(extra ...string) string {
		return hdrs("hi\n", append([]string{"From: Mike <mike@example.org>", "To: me@example.com", "Subject: hi"}, extra...)...)
	}
	cases := []struct {
		name     string
		msg      string
		from, to string
		opt      RunOptions
		reply    bool
		why      string // part of VacationSkipped
	}{
		{"personal message", with(), "mike@example.org", "", RunOptions{}, true, ""},
		{"null sender", with(), "", "", RunOptions{}, false, "null reverse path"},
		{"MAILER-DAEMON", with(), "MAILER-DAEMON@example.org", "", RunOptions{}, false, "automated address"},
		{"owner- prefix", with(), "owner-list@example.org", "", RunOptions{}, false, "automated address"},
		{"-request suffix", with(), "list-request@example.org", "", RunOptions{}, false, "automated address"},
		{"Auto-Submitted auto-replied", with("Auto-Submitted: auto-replied"), "mike@example.org", "", RunOptions{}, false, "Auto-Submitted"},
		{"Auto-Submitted auto-generated", with("Auto-Submitted: auto-generated; type=x"), "mike@example.org", "", RunOptions{}, false, "Auto-Submitted"},
		{"Auto-Submitted no", with("Auto-Submitted: No"), "mike@example.org", "", RunOptions{}, true, ""},
		{"List-Id", with("List-Id: Sieve <sieve.example.org>"), "mike@example.org", "", RunOptions{}, false, "List-Id"},
		{"List-Unsubscribe", with("List-Unsubscribe: <mailto:u@example.org>"), "mike@example.org", "", RunOptions{}, false, "List-Unsubscribe"},
		{"List-Post", with("List-Post: <mailto:l@example.org>"), "mike@example.org", "", RunOptions{}, false, "List-Post"},
		{"Precedence bulk", with("Precedence: bulk"), "mike@example.org", "", RunOptions{}, false, "Precedence"},
		{"Precedence junk", with("Precedence: junk"), "mike@example.org", "", RunOptions{}, false, "Precedence"},
		{"Precedence list", with("Precedence: list"), "mike@example.org", "", RunOptions{}, false, "Precedence"},
		{"X-Auto-Response-Suppress", with("X-Auto-Response-Suppress: DR, OOF"), "mike@example.org", "", RunOptions{}, false, "X-Auto-Response-Suppress"},
		{"not addressed (Bcc or list)", hdrs("hi", "From: mike@example.org", "To: team@example.org"), "mike@example.org", "", RunOptions{}, false, "To/Cc/Bcc"},
		{"addressed by Cc", hdrs("hi", "From: mike@example.org", "To: team@example.org", "Cc: ME@Example.COM"), "mike@example.org", "", RunOptions{}, true, ""},
		{"addressed by Resent-To", hdrs("hi", "From: mike@example.org", "To: x@example.org", "Resent-To: me@example.com"), "mike@example.org", "", RunOptions{}, true, ""},
		{"addressed to :addresses", hdrs("hi", "From: mike@example.org", "To: alias@example.net"), "mike@example.org", "", RunOptions{}, true, ""},
		{"addressed to an account alias", hdrs("hi", "From: mike@example.org", "To: other@example.com"), "mike@example.org", "",
			RunOptions{Addresses: []string{"other@example.com"}}, true, ""},
		{"subaddress recipient", hdrs("hi", "From: mike@example.org", "To: me@example.com"), "mike@example.org", "me+lists@example.com", RunOptions{}, true, ""},
		{"sender is the user", with(), "me@example.com", "", RunOptions{}, false, "sender is the recipient"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := runScript(t, script, testMsg{raw: c.msg, from: c.from, to: c.to}, c.opt)
			got := strings.HasPrefix(summary(res), "vacation:")
			if got != c.reply {
				t.Fatalf("reply = %v, want %v (actions %q, skipped %q)", got, c.reply, summary(res), res.VacationSkipped)
			}
			if !strings.Contains(res.VacationSkipped, c.why) {
				t.Errorf("skipped = %q, want it to mention %q", res.VacationSkipped, c.why)
			}
			if !res.Kept() {
				t.Errorf("message not kept: %q", summary(res))
			}
		})
	}
}

func TestVacationHandleDefault(t *testing.T) {
	h := func(script string) string {
		return vacationOf(t, runScript(t, script, testMsg{raw: personal, from: "mike@example.org"}, RunOptions{})).Handle
	}
	a := h(`require "vacation"; vacation "one";`)
	if a == "" || a != h(`require "vacation"; vacation "one";`) {
		t.Errorf("default handle not stable: %q", a)
	}
	if a == h(`require "vacation"; vacation "two";`) || a == h(`require "vacation"; vacation :subject "s" "one";`) {
		t.Error("default handle does not follow the reason and subject (RFC 5230 4.2)")
	}
}

func TestVacationErrors(t *testing.T) {
	for _, c := range []struct{ script, want string }{
		{`require "vacation"; vacation :from "not an address" "x";`, "1:36: vacation :from"},
		{`require "vacation"; vacation :days "7" "x";`, "1:36: vacation: expected :days value (a number), found a string"},
		{`require "vacation"; vacation :mime;`, "1:21: vacation: missing reason"},
		{`vacation "x";`, `1:1: vacation requires the "vacation" extension`},
	} {
		_, err := Compile(c.script, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.script, err, c.want)
		}
	}
	// RFC 5230 4.7 and RFC 5429: one vacation per run, never with reject.
	for _, script := range []string{
		`require "vacation"; vacation "a"; vacation "b";`,
		`require ["vacation","reject"]; vacation "a"; reject "no";`,
		`require ["vacation","reject"]; reject "no"; vacation "a";`,
	} {
		res, err := mustCompile(t, script).Run(t.Context(), testMsg{raw: personal, from: "mike@example.org"}.message(t), RunOptions{})
		var se *Error
		if err == nil || !errors.As(err, &se) || !se.Runtime {
			t.Errorf("%s: err = %v, want a runtime error", script, err)
		}
		if summary(res) != "keep(implicit)" {
			t.Errorf("%s: after a runtime error actions = %q, want only the implicit keep", script, summary(res))
		}
	}
}
