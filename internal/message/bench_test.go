package message

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// BenchmarkParseTypical parses a 12 KB multipart/alternative message with a small
// attachment, the shape of most mail.
func BenchmarkParseTypical(b *testing.B) {
	raw := readTestdata(b, "mixed-attachment.eml")
	raw = bytes.Replace(raw, []byte("See the attached report."), []byte(strings.Repeat("Some text of a typical length.\r\n", 350)+"end"), 1)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(raw), int64(len(raw))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLarge measures the streaming body scan (8 MiB base64 attachment).
func BenchmarkParseLarge(b *testing.B) {
	g := &genMessage{
		head:  "Subject: big\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		line:  strings.Repeat("QUJD", 19) + "\r\n",
		tail:  "\r\n--z--\r\n",
		lines: (8 << 20) / 78,
	}
	b.SetBytes(g.Size())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(g, g.Size()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseDateForms(t *testing.T) {
	want := time.Date(2024, 10, 7, 9, 5, 3, 0, time.UTC)
	for _, v := range []string{
		"Mon, 7 Oct 2024 09:05:03 +0000",
		"Mon, 07 Oct 2024 09:05:03 +0000 (UTC)",
		"7 Oct 2024 09:05:03 +0000",         // no day of week (RFC 5322 3.3 optional)
		"Mon, 7 Oct 2024 09:05:03 GMT",      // obsolete zone (RFC 5322 4.3)
		"Mon, 7 Oct 24 09:05:03 +0000",      // two-digit year (RFC 5322 4.3)
		"Mon,  7 Oct 2024  09:05:03  +0000", // extra white space
		"Mon Oct 7 09:05:03 2024",           // ctime, seen from old scripts
		"2024-10-07T09:05:03Z",
	} {
		if got := parseDate(v); !got.Equal(want) {
			t.Errorf("parseDate(%q) = %v", v, got)
		}
	}
	for _, v := range []string{"", "yesterday", "Mon, 32 Oct 2024 09:05:03 +0000"} {
		if got := parseDate(v); !got.IsZero() {
			t.Errorf("parseDate(%q) = %v, want zero", v, got)
		}
	}
}
