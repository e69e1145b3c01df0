package body_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"mailgrid/internal/message/body"
)

func TestConcatReadsLikeOneBody(t *testing.T) {
	parts := []string{"Received: x\r\n", "", "Return-Path: <>\r\n", strings.Repeat("0123456789", 700)}
	var bodies []body.Body
	for _, p := range parts {
		bodies = append(bodies, body.Bytes(p))
	}
	inner := body.Concat(bodies[2:]...)
	c := body.Concat(bodies[0], bodies[1], inner) // nested concat is flattened
	want := strings.Join(parts, "")
	if c.Size() != int64(len(want)) {
		t.Fatalf("Size %d, want %d", c.Size(), len(want))
	}
	if err := iotest.TestReader(body.Reader(c), []byte(want)); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < 40; off++ {
		for n := 0; n < 40; n++ {
			buf := make([]byte, n)
			m, err := c.ReadAt(buf, int64(off))
			end := min(off+n, len(want))
			if m != end-off || !bytes.Equal(buf[:m], []byte(want[off:end])) {
				t.Fatalf("ReadAt(%d,%d) = %d %q", n, off, m, buf[:m])
			}
			if m < n && err != io.EOF {
				t.Fatalf("short read without EOF: %v", err)
			}
		}
	}
	if _, err := c.ReadAt(make([]byte, 1), c.Size()); err != io.EOF {
		t.Fatalf("read at end: %v", err)
	}
}

func TestFieldsAndStrip(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 9000) + "\r\n"
	msg := "Received: from a\r\n\tby b\r\nAuthentication-Results: mx.test; spf=pass\r\n" + long +
		"Subject : hi\r\nnot a field\r\nAuthentication-Results: other; dkim=none\r\n folded\r\n\r\nBody: not a field\r\n"
	fs, err := body.Fields(body.Bytes(msg))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "Received,Authentication-Results,X-Long,Subject,Authentication-Results" {
		t.Fatalf("names %s", got)
	}
	if got := msg[fs[0].Span.Start:fs[0].Span.End]; got != "Received: from a\r\n\tby b\r\n" {
		t.Fatalf("folded span %q", got)
	}
	if got := msg[fs[4].Span.Start:fs[4].Span.End]; got != "Authentication-Results: other; dkim=none\r\n folded\r\n" {
		t.Fatalf("last span %q", got)
	}
	v := body.Strip(body.Bytes(msg), []body.Span{fs[1].Span, fs[4].Span, {Start: 0, End: 0}})
	want := strings.Replace(strings.Replace(msg, "Authentication-Results: mx.test; spf=pass\r\n", "", 1),
		"Authentication-Results: other; dkim=none\r\n folded\r\n", "", 1)
	if err := iotest.TestReader(body.Reader(v), []byte(want)); err != nil {
		t.Fatal(err)
	}
}

func TestHeaderEnd(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 9000) + "\r\n"
	for _, c := range []struct {
		in   string
		want int
	}{
		{"A: b\r\n\r\nbody\r\n", 8},
		{"A: b\r\n folded\r\n\r\n\r\nbody", 17},
		{"\r\nbody", 2},
		{"A: b\r\nno blank line", 19},
		{long + "\r\nbody", len(long) + 2},
		{"", 0},
	} {
		got, err := body.HeaderEnd(body.Bytes(c.in))
		if err != nil || got != int64(c.want) {
			t.Errorf("HeaderEnd(%.20q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

// TestFieldsAtEveryOffset puts the fields at every offset around the ends of the
// scanner's buffer and of the input: a field after a folded one was once taken for a
// continuation line when the scanner's look-ahead moved its buffered bytes (a From field
// went missing after a Received prefix of some lengths).
func TestFieldsAtEveryOffset(t *testing.T) {
	const tail = "From: Boss <boss@remote.test>\r\nTo: a@example.test\r\nSubject: s\r\n\r\nBody.\r\n"
	for pad := 0; pad < 4600; pad++ {
		if pad > 700 && pad < 3700 {
			continue // far from both ends: nothing new
		}
		prefix := "Received: from a\r\n\tby b " + strings.Repeat("x", pad) + "\r\n"
		for _, b := range []body.Body{body.Bytes(prefix + tail), body.Prepend([]byte(prefix), body.Bytes(tail))} {
			fs, err := body.Fields(b)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				buf := make([]byte, f.Span.End-f.Span.Start)
				if _, err := b.ReadAt(buf, f.Span.Start); err != nil {
					t.Fatal(err)
				}
				got = append(got, f.Name+"="+string(buf))
			}
			want := []string{"Received=" + prefix, "From=From: Boss <boss@remote.test>\r\n",
				"To=To: a@example.test\r\n", "Subject=Subject: s\r\n"}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("pad %d: fields %q", pad, got)
			}
		}
	}
}
