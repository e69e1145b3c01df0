package sieve

import (
	"context"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/mail"
)

// testMsg is a message plus envelope for a test; raw is the RFC 5322 text with LF or
// CRLF line ends (normalised to CRLF).
type testMsg struct {
	raw      string
	from, to string // envelope; from "" is the null sender
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// message builds a Message through NewMessage over the real MIME parser.
func (tm testMsg) message(t testing.TB) Message {
	t.Helper()
	raw := crlf(tm.raw)
	var env Envelope
	if tm.from != "" {
		env.From = mail.MustParse(tm.from)
	}
	to := tm.to
	if to == "" {
		to = "me@example.com"
	}
	env.To = mail.MustParse(to)
	m, err := NewMessage(strings.NewReader(raw), int64(len(raw)), nil, env)
	if err != nil {
		t.Fatalf("NewMessage: %v", err)
	}
	return m
}

func mustCompile(t testing.TB, src string) *Script {
	t.Helper()
	s, err := Compile(src, Options{})
	if err != nil {
		t.Fatalf("Compile: %v\nscript:\n%s", err, src)
	}
	return s
}

// testNow is the clock of every run in these tests.
var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func runScript(t testing.TB, src string, tm testMsg, opt RunOptions) *Result {
	t.Helper()
	if opt.Now.IsZero() {
		opt.Now = testNow
	}
	res, err := mustCompile(t, src).Run(context.Background(), tm.message(t), opt)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// summary renders actions compactly: "fileinto:spam", "keep(implicit)",
// "redirect:a@b.example:copy", "keep[\Seen]", "vacation:to@x".
func summary(r *Result) string {
	var out []string
	for _, a := range r.Actions {
		s := a.Kind.String()
		switch a.Kind {
		case ActionFileInto:
			s += ":" + a.Mailbox
		case ActionRedirect:
			s += ":" + a.Address
		case ActionReject, ActionEReject:
			s += ":" + a.Reason
		case ActionVacation:
			s += ":" + a.Vacation.To
		}
		if a.Copy {
			s += ":copy"
		}
		if a.Implicit {
			s += "(implicit)"
		}
		if len(a.Flags) > 0 {
			s += "[" + strings.Join(a.Flags, " ") + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// hdrs builds a message from header lines and a body.
func hdrs(body string, fields ...string) string {
	return strings.Join(fields, "\n") + "\n\n" + body
}
