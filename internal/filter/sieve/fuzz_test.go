package sieve

import (
	"context"
	"errors"
	"testing"
)

// fuzzMsg exercises every test a script can make: addresses, lists, MIME parts.
const fuzzMsg = mimeMsg

// FuzzParse compiles arbitrary scripts and runs the ones that compile. Compile must
// return a positioned *Error or a script, never panic; Run must end with a result
// within the limits. Time per input is bounded by construction: the parser is linear,
// Sieve has no loops, and the limits below cap data and matching work.
// The committed corpus is testdata/fuzz/FuzzParse; run with
// go test -fuzz=FuzzParse ./internal/filter/sieve/
func FuzzParse(f *testing.F) {
	f.Add(`require ["fileinto", "variables"]; if header :matches "subject" "*x*" { fileinto "${1}"; }`)
	f.Add("require \"vacation\";\nvacation :days 3 text:\nback soon\n.\n;")
	lim := Limits{MaxScriptBytes: 64 << 10, MaxMatchWork: 2_000_000, MaxBodyBytes: 64 << 10}
	msg := testMsg{raw: fuzzMsg, from: "sender@example.org"}.message(f)
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Compile(src, Options{Limits: lim})
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Pos.Line < 1 || se.Pos.Col < 1 || se.Runtime {
				t.Fatalf("compile error without a position: %#v", err)
			}
			return
		}
		res, err := s.Run(context.Background(), msg, RunOptions{Now: testNow, Addresses: []string{"me@example.com"}})
		if res == nil {
			t.Fatalf("nil result (err %v)", err)
		}
		if len(res.Actions) > s.lim.MaxActions+1 {
			t.Fatalf("%d actions, limit %d", len(res.Actions), s.lim.MaxActions)
		}
		if err != nil && (len(res.Actions) != 1 || !res.Actions[0].Implicit) {
			t.Fatalf("runtime error %v but actions %q", err, summary(res))
		}
	})
}
