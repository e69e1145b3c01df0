package sieve

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSubaddress covers RFC 5233 4 (separator "+").
func TestSubaddress(t *testing.T) {
	msg := hdrs("x", "From: ken+sieve@example.org", "To: Plain <plain@example.org>")
	cases := []struct{ script, want string }{
		{`if address :user "from" "ken" { discard; }`, "discard"},
		{`if address :detail "from" "sieve" { discard; }`, "discard"},
		{`if address :detail :matches "from" "*" { discard; }`, "discard"},
		// RFC 5233 4: no separator, no detail: :detail matches nothing, even "*".
		{`if address :detail :matches "to" "*" { discard; }`, "keep(implicit)"},
		{`if address :user "to" "plain" { discard; }`, "discard"},
		{`require "envelope"; if envelope :detail "to" "lists" { discard; }`, "discard"},
		{`require "envelope"; if envelope :user "to" "me" { discard; }`, "discard"},
	}
	for _, c := range cases {
		res := runScript(t, `require "subaddress"; `+c.script, testMsg{raw: msg, from: "a@b.example", to: "me+lists@example.com"}, RunOptions{})
		if got := summary(res); got != c.want {
			t.Errorf("%s: %q, want %q", c.script, got, c.want)
		}
	}
}

const mimeMsg = `From: a@b.example
To: me@example.com
Subject: parts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 au lait, plain part.
--alt
Content-Type: text/html; charset=utf-8

<html><style>p {color: red}</style><p>Hello <b>bold</b> &amp; world</p></html>
--alt--
--outer
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

U0VDUkVUIGF0dGFjaG1lbnQgcGF5bG9hZA==
--outer
Content-Type: message/rfc822

From: inner@example.net
Subject: forwarded

inner body
--outer--
`

// TestBody covers RFC 5173 transforms over a real MIME message.
func TestBody(t *testing.T) {
	cases := []struct{ script, want string }{
		{`if body :text :contains "café au lait" { discard; }`, "discard"},                       // QP + Latin-1 decoded
		{`if body :text :contains "hello bold & world" { discard; }`, "keep(implicit)"},          // tags leave spaces
		{`if body :text :contains "bold  & world" { discard; }`, "discard"},                      // HTML reduced to text
		{`if body :text :contains "color: red" { discard; }`, "keep(implicit)"},                  // style dropped
		{`if body :text :contains "SECRET" { discard; }`, "keep(implicit)"},                      // not text
		{`if body :content "application" :contains "SECRET attachment" { discard; }`, "discard"}, // base64 decoded
		{`if body :content "text/html" :contains "<b>bold</b>" { discard; }`, "discard"},
		{`if body :content "text/plain" :contains "<b>" { discard; }`, "keep(implicit)"},
		{`if body :content "message/rfc822" :contains "inner@example.net" { discard; }`, "discard"},
		{`if body :content "" :contains "inner body" { discard; }`, "discard"},
		{`if body :raw :contains "U0VDUkVU" { discard; }`, "discard"},
		{`if body :raw :contains "SECRET" { discard; }`, "keep(implicit)"},
		{`if body :raw :matches "preamble*--outer--*" { discard; }`, "discard"},
		{`if body :contains "Caf=E9" { discard; }`, "keep(implicit)"}, // default :text is decoded
	}
	for _, c := range cases {
		res := runScript(t, `require "body"; `+c.script, testMsg{raw: mimeMsg, from: "a@b.example"}, RunOptions{})
		if got := summary(res); got != c.want {
			t.Errorf("%s: %q, want %q", c.script, got, c.want)
		}
	}
}

func TestBodyReadLimit(t *testing.T) {
	big := hdrs(strings.Repeat("x", 5000)+"NEEDLE\n", "From: a@b.example")
	s, err := Compile(`require "body"; if body :raw :contains "NEEDLE" { discard; }`, Options{Limits: Limits{MaxBodyBytes: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background(), testMsg{raw: big, from: "a@b.example"}.message(t), RunOptions{})
	if err != nil || summary(res) != "keep(implicit)" {
		t.Errorf("needle past MaxBodyBytes: %q, %v", summary(res), err)
	}
}

// TestRelational covers RFC 5231 with i;ascii-numeric (RFC 4790 9.1).
func TestRelational(t *testing.T) {
	msg := hdrs("x", "Received: from a", "Received: from b", "Received: from c", "X-Spam-Score: 7.5",
		"X-Priority: 2", "X-Text: banana", "To: a@x.example, b@x.example")
	cases := []struct{ script, want string }{
		{`if header :count "ge" :comparator "i;ascii-numeric" "received" "3" { discard; }`, "discard"},
		{`if header :count "gt" :comparator "i;ascii-numeric" "received" "3" { discard; }`, "keep(implicit)"},
		{`if address :count "eq" :comparator "i;ascii-numeric" "to" "2" { discard; }`, "discard"},
		{`if header :value "ge" :comparator "i;ascii-numeric" "X-Spam-Score" "7" { discard; }`, "discard"},
		{`if header :value "lt" :comparator "i;ascii-numeric" "X-Priority" "10" { discard; }`, "discard"},
		// non-digits are positive infinity under i;ascii-numeric
		{`if header :value "gt" :comparator "i;ascii-numeric" "X-Text" "999999999999999999999" { discard; }`, "discard"},
		{`if header :value "gt" "X-Text" "apple" { discard; }`, "discard"}, // casemap ordering
		{`if header :value "lt" "X-Text" "APPLE" { discard; }`, "keep(implicit)"},
		{`if header :count "eq" :comparator "i;ascii-numeric" "X-None" "0" { discard; }`, "discard"},
		{`if header :is :comparator "i;ascii-numeric" "X-Priority" "002" { discard; }`, "discard"},
	}
	for _, c := range cases {
		res := runScript(t, `require ["relational", "comparator-i;ascii-numeric"]; `+c.script, testMsg{raw: msg, from: "a@b.example"}, RunOptions{})
		if got := summary(res); got != c.want {
			t.Errorf("%s: %q, want %q", c.script, got, c.want)
		}
	}
}

// TestDate covers RFC 5260 date and currentdate with a fixed clock.
func TestDate(t *testing.T) {
	msg := hdrs("x", "Date: Fri, 13 Mar 2026 23:30:00 -0500", "Received: from x by y; Sat, 14 Mar 2026 04:30:05 +0000")
	cases := []struct{ script, want string }{
		{`if currentdate :is "date" "2026-03-14" { discard; }`, "discard"},
		{`if currentdate :value "ge" "date" "2026-03-01" { discard; }`, "discard"},
		{`if currentdate :value "lt" "date" "2026-03-14" { discard; }`, "keep(implicit)"},
		{`if currentdate :zone "+0900" :is "date" "2026-03-15" { discard; }`, "discard"},
		{`if currentdate :is "weekday" "6" { discard; }`, "discard"}, // a Saturday
		{`if currentdate :is "iso8601" "2026-03-14T15:09:26+00:00" { discard; }`, "discard"},
		{`if date :is "date" "date" "2026-03-14" { discard; }`, "discard"}, // to the run's zone (UTC)
		{`if date :originalzone :is "date" "date" "2026-03-13" { discard; }`, "discard"},
		{`if date :originalzone :is "date" "zone" "-0500" { discard; }`, "discard"},
		{`if date :is "received" "time" "04:30:05" { discard; }`, "discard"},
		{`if date :is "x-missing" "year" "2026" { discard; }`, "keep(implicit)"},
		{`if date :is "date" "julian" "61113" { discard; }`, "discard"},
	}
	for _, c := range cases {
		res := runScript(t, `require ["date", "relational"]; `+c.script, testMsg{raw: msg, from: "a@b.example"}, RunOptions{Now: testNow})
		if got := summary(res); got != c.want {
			t.Errorf("%s: %q, want %q", c.script, got, c.want)
		}
	}
}

func TestEncodedCharacter(t *testing.T) {
	script := `require ["encoded-character", "reject"]; reject "$${hex:24 24}|${unicode:263a}|${hex:zz}|${Unicode: 40 41 }";`
	res := runScript(t, script, testMsg{raw: personal, from: "a@b.example"}, RunOptions{})
	if got, want := res.Actions[0].Reason, "$$$|☺|${hex:zz}|@A"; got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
	if _, err := Compile(`require "encoded-character"; keep; if header :is "x" "${unicode:D800}" {}`, Options{}); err == nil {
		t.Error("a surrogate code point compiled; RFC 5228 2.4.2.4 makes it an error")
	}
	// Without the extension the text is literal.
	res = runScript(t, `require "reject"; reject "${hex:40}";`, testMsg{raw: personal, from: "a@b.example"}, RunOptions{})
	if res.Actions[0].Reason != "${hex:40}" {
		t.Errorf("without encoded-character: %q", res.Actions[0].Reason)
	}
}

func TestCopyAndRejects(t *testing.T) {
	cases := []struct{ script, want string }{
		{`require "copy"; redirect :copy "a@example.net";`, "redirect:a@example.net:copy keep(implicit)"},
		{`redirect "a@example.net"; redirect "A@example.net";`, "redirect:a@example.net"},
		{`require "fileinto"; fileinto "INBOX"; keep;`, "keep"},
		{`require ["fileinto", "copy", "imap4flags"]; fileinto :copy :flags "a" "inbox"; addflag "b";`, "keep[a b]"},
		{`require "ereject"; ereject "no thanks";`, "ereject:no thanks"},
		{`require "reject"; discard; reject "go away";`, "discard reject:go away"},
		{`redirect "Bart Simpson <bart@example.com>";`, "redirect:bart@example.com"},
	}
	for _, c := range cases {
		res := runScript(t, c.script, testMsg{raw: personal, from: "a@b.example"}, RunOptions{})
		if got := summary(res); got != c.want {
			t.Errorf("%s: %q, want %q", c.script, got, c.want)
		}
	}
}

// TestRuntimeErrors: limits and conflicts end the run with only the implicit keep
// (RFC 5228 2.10.6).
func TestRuntimeErrors(t *testing.T) {
	cases := []struct{ script, want string }{
		{`require ["reject", "fileinto"]; fileinto "a"; reject "no";`, "reject conflicts with the earlier fileinto"},
		{`require "reject"; reject "no"; keep;`, "keep conflicts with the earlier reject"},
		{`require ["reject", "ereject"]; reject "a"; ereject "b";`, "conflicts"},
		{`redirect "a@x.example"; redirect "b@x.example"; redirect "c@x.example"; redirect "d@x.example"; redirect "e@x.example";`, "more than 4 redirects"},
		{`require "variables"; set "a" "not an address"; redirect "${a}";`, "redirect: invalid address"},
		{`require ["variables", "fileinto"]; fileinto "${empty}";`, "empty mailbox name"},
		{`require ["variables", "regex"]; set "re" "(["; if header :regex "subject" "${re}" {}`, "invalid regular expression"},
	}
	for _, c := range cases {
		res, err := mustCompile(t, c.script).Run(context.Background(), testMsg{raw: personal, from: "a@b.example"}.message(t), RunOptions{})
		var se *Error
		if !errors.As(err, &se) || !se.Runtime || !strings.Contains(se.Msg, c.want) {
			t.Errorf("%s: err = %v, want runtime error %q", c.script, err, c.want)
		}
		if summary(res) != "keep(implicit)" {
			t.Errorf("%s: actions %q, want only the implicit keep", c.script, summary(res))
		}
	}
}

func TestActionLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`require "fileinto";`)
	for i := range 40 {
		b.WriteString(`fileinto "box` + strings.Repeat("x", i) + `";`)
	}
	_, err := mustCompile(t, b.String()).Run(context.Background(), testMsg{raw: personal, from: "a@b.example"}.message(t), RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "more than 32 actions") {
		t.Errorf("err = %v", err)
	}
}

// TestMatchWorkLimit: a pattern built to be slow against a long header is stopped by
// the work budget, not by a clock.
func TestMatchWorkLimit(t *testing.T) {
	long := strings.Repeat("a", 20000)
	msg := hdrs("x", "Subject: "+long)
	pattern := "*" + strings.Repeat("a", 1000) + "b*" // 20000 positions x 1000 comparisons
	script := `if header :matches "subject" "` + pattern + `" { discard; }`
	s, err := Compile(script, Options{Limits: Limits{MaxMatchWork: 1_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), testMsg{raw: msg, from: "a@b.example"}.message(t), RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "matching work exceeds") {
		t.Errorf("err = %v, want the work limit", err)
	}
	// The same pattern under the default budget finishes and does not match.
	res := runScript(t, script, testMsg{raw: msg, from: "a@b.example"}, RunOptions{})
	if summary(res) != "keep(implicit)" {
		t.Errorf("actions %q", summary(res))
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mustCompile(t, `keep;`).Run(ctx, testMsg{raw: personal, from: "a@b.example"}.message(t), RunOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// TestConcurrentRuns: one compiled Script serves many deliveries at once.
func TestConcurrentRuns(t *testing.T) {
	s := mustCompile(t, `require ["variables", "fileinto"]; if header :matches "subject" "* *" { fileinto "${2}"; }`)
	done := make(chan string, 8)
	for i := range 8 {
		go func() {
			subj := "n " + strings.Repeat("k", i+1)
			res, err := s.Run(context.Background(), testMsg{raw: hdrs("x", "Subject: "+subj), from: "a@b.example"}.message(t), RunOptions{Now: time.Unix(0, 0)})
			if err != nil {
				done <- err.Error()
				return
			}
			if got, want := summary(res), "fileinto:"+subj[2:]; got != want {
				done <- got + " != " + want
				return
			}
			done <- ""
		}()
	}
	for range 8 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

// TestEmptyComparisonsAreCharged: comparing empty strings still costs work, so a script
// with thousands of keys against thousands of empty fields is stopped.
func TestEmptyComparisonsAreCharged(t *testing.T) {
	fields := make([]string, 2000)
	for i := range fields {
		fields[i] = "X-E:"
	}
	keys := strings.TrimSuffix(strings.Repeat(`"x", `, 2000), ", ")
	s, err := Compile(`if header :is "x-e" [`+keys+`] { discard; }`, Options{Limits: Limits{MaxMatchWork: 1_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), testMsg{raw: hdrs("x", fields...), from: "a@b.example"}.message(t), RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "matching work exceeds") {
		t.Errorf("err = %v", err)
	}
}

// TestRepeatedHeaderTests: many tests on one large header read and parse it once; the
// budget then covers only the matching.
func TestRepeatedHeaderTests(t *testing.T) {
	var to []string
	for i := range 2000 {
		to = append(to, "user"+strings.Repeat("x", i%10)+"@example.org")
	}
	msg := hdrs("x", "From: a@b.example", "To: "+strings.Join(to, ", "))
	script := strings.Repeat(`if address :is "to" "nobody@example.org" { discard; }`+"\n", 500)
	res := runScript(t, script, testMsg{raw: msg, from: "a@b.example"}, RunOptions{})
	if summary(res) != "keep(implicit)" {
		t.Errorf("actions %q", summary(res))
	}
}
