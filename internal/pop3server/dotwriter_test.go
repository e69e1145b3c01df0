package pop3server

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

// dotWriter: byte-stuffing, CRLF, termination and TOP line counting (RFC 1939 3, 7),
// whatever the chunking of the input.
func TestDotWriter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		body int // -1 = RETR
		want string
	}{
		{"plain", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n.\r\n"},
		{"stuffing", ".x\r\n..\r\n.\r\nmid.dle\r\n", -1, "..x\r\n...\r\n..\r\nmid.dle\r\n.\r\n"},
		{"bare LF", "A: b\n\nbody\n.dot\n", -1, "A: b\r\n\r\nbody\r\n..dot\r\n.\r\n"},
		{"no final line end", "A: b\r\n\r\nlast", -1, "A: b\r\n\r\nlast\r\n.\r\n"},
		{"empty message", "", -1, ".\r\n"},
		{"bare CR kept", "a\rb\r\n", -1, "a\rb\r\n.\r\n"},
		{"top 0", "A: b\r\nC: d\r\n\r\nl1\r\nl2\r\n", 0, "A: b\r\nC: d\r\n\r\n.\r\n"},
		{"top 1", "A: b\r\n\r\nl1\r\nl2\r\n", 1, "A: b\r\n\r\nl1\r\n.\r\n"},
		{"top counts empty and dot lines", "A: b\r\n\r\n\r\n.\r\nl3\r\nl4\r\n", 3, "A: b\r\n\r\n\r\n..\r\nl3\r\n.\r\n"},
		{"top beyond end", "A: b\r\n\r\nl1\r\n", 10, "A: b\r\n\r\nl1\r\n.\r\n"},
		{"top without body", "A: b\r\nC: d\r\n", 2, "A: b\r\nC: d\r\n.\r\n"},
		{"top bare LF header end", "A: b\n\nl1\nl2\n", 1, "A: b\r\n\r\nl1\r\n.\r\n"},
		{"top header line of a CR only is not empty", "A: b\r\n\r\r\n\r\nl1\r\n", 0, "A: b\r\n\r\r\n\r\n.\r\n"},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 2, 3, 7, 1 << 20} {
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			d := &dotWriter{w: bw, bol: true, body: tc.body, header: tc.body >= 0}
			in := []byte(tc.in)
			for len(in) > 0 {
				n := min(chunk, len(in))
				if _, err := d.Write(in[:n]); errors.Is(err, errTopDone) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				in = in[n:]
			}
			if err := d.finish(); err != nil {
				t.Fatal(err)
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("%s (chunks of %d): got %q, want %q", tc.name, chunk, out.String(), tc.want)
			}
		}
	}
}
