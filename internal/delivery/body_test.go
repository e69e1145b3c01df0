package delivery_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"mailgrid/internal/delivery"
	"mailgrid/internal/store"
)

func TestConcatReadsLikeOneBody(t *testing.T) {
	parts := []string{"Received: x\r\n", "", "Return-Path: <>\r\n", strings.Repeat("0123456789", 700)}
	var bodies []store.Body
	for _, p := range parts {
		bodies = append(bodies, delivery.Bytes(p))
	}
	inner := delivery.Concat(bodies[2:]...)
	c := delivery.Concat(bodies[0], bodies[1], inner) // nested concat is flattened
	want := strings.Join(parts, "")
	if c.Size() != int64(len(want)) {
		t.Fatalf("Size %d, want %d", c.Size(), len(want))
	}
	if err := iotest.TestReader(io.NewSectionReader(c, 0, c.Size()), []byte(want)); err != nil {
		t.Fatal(err)
	}
	// every offset and length, across part boundaries
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
	s := delivery.Section(c, 5, 10)
	if err := iotest.TestReader(io.NewSectionReader(s, 0, s.Size()), []byte(want[5:15])); err != nil {
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
		got, err := delivery.HeaderEnd(delivery.Bytes(c.in))
		if err != nil || got != int64(c.want) {
			t.Errorf("HeaderEnd(%.20q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}
