package bayes

import (
	"bytes"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzTokenize: any bytes tokenise without error (a bytes.Reader cannot fail), within the
// limits, to sorted distinct valid UTF-8 tokens, the same way twice.
func FuzzTokenize(f *testing.F) {
	for _, m := range generateCorpus(7, 4) {
		f.Add(m.raw)
	}
	f.Add([]byte("Content-Type: text/html\r\n\r\n<a href=\"http://[::1]:80/\">x</a><script>"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@\r\n--b"))
	f.Add([]byte("Subject: =?utf-8?q?=FF=FE?=\r\nFrom: \"\xff\" <@>\r\n\r\nhttp://@:/ www. <!-- <"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := Tokenize(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if len(a) > MaxTokens {
			t.Fatalf("%d tokens", len(a))
		}
		for i, tok := range a {
			if tok == "" || len(tok) > MaxTokenLen || !utf8.ValidString(tok) {
				t.Fatalf("bad token %q", tok)
			}
			if i > 0 && a[i-1] >= tok {
				t.Fatalf("tokens not sorted and distinct: %q, %q", a[i-1], tok)
			}
		}
		b, err := Tokenize(bytes.NewReader(raw))
		if err != nil || !slices.Equal(a, b) {
			t.Fatal("not deterministic")
		}
	})
}

// FuzzUnmarshal: any bytes either load or fail with ErrCorrupt; what loads serialises back
// to exactly the same bytes.
func FuzzUnmarshal(f *testing.F) {
	s := NewMemStore()
	train(f, New(s, Options{}), generateCorpus(8, 2))
	data, err := s.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("MGB\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := NewMemStore()
		if err := m.UnmarshalBinary(data); err != nil {
			return
		}
		back, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("loaded data does not serialise back: %v", err)
		}
	})
}
