package sieve

import (
	"context"
	"os"
	"strings"
	"testing"
)

func benchScript(b *testing.B) string {
	src, err := Generate(fullSettings())
	if err != nil {
		b.Fatal(err)
	}
	return src
}

// BenchmarkCompile compiles the script the webmail's full settings generate.
func BenchmarkCompile(b *testing.B) {
	src := benchScript(b)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, err := Compile(src, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun runs the RFC 5228 section 9 script against a parsed message.
func BenchmarkRun(b *testing.B) {
	src, err := os.ReadFile("testdata/scripts/rfc5228-9.sieve")
	if err != nil {
		b.Fatal(err)
	}
	s := mustCompile(b, string(src))
	msg := testMsg{raw: hdrs("hi", "From: friend@other.example", "Cc: me@example.com", "To: group@other.example", "Subject: dinner"), from: "a@b.example"}.message(b)
	for b.Loop() {
		if _, err := s.Run(context.Background(), msg, RunOptions{Now: testNow}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunGenerated runs the generated settings script, including NewMessage.
func BenchmarkRunGenerated(b *testing.B) {
	s := mustCompile(b, benchScript(b))
	raw := crlf(hdrs("hello\n", "From: Colleague <c@work.example>", "To: me@example.com", "Subject: hi"))
	env := testMsg{from: "a@b.example"}.message(b).Envelope()
	for b.Loop() {
		msg, err := NewMessage(strings.NewReader(raw), int64(len(raw)), nil, env)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Run(context.Background(), msg, RunOptions{Now: testNow}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBodyText searches the decoded text of a MIME message of about 1 MB.
func BenchmarkBodyText(b *testing.B) {
	s := mustCompile(b, `require "body"; if body :text :contains "needle" { discard; }`)
	raw := strings.Replace(mimeMsg, "Caf=E9 au lait, plain part.", strings.Repeat("Caf=E9 au lait, plain part.\n", 36000), 1)
	tm := testMsg{raw: raw, from: "a@b.example"}
	msg := tm.message(b)
	b.SetBytes(msg.Size())
	for b.Loop() {
		if _, err := s.Run(context.Background(), msg, RunOptions{Now: testNow}); err != nil {
			b.Fatal(err)
		}
	}
}
