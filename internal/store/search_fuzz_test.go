package store_test

import (
	"bytes"
	"testing"

	"mailgrid/internal/store"
)

// FuzzExtractText: any bytes (malformed MIME, broken encodings, unknown charsets,
// endless nesting) give searchable text without a panic or an error (a bytes.Reader
// cannot fail), of a size bounded by the input, that folds as a search needle would.
func FuzzExtractText(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html; charset=koi8-r\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nPGI+zsnLzsk8L2I+\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=\"\"\r\n\r\n--\r\n--\r\n"))
	f.Add([]byte("Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=E9=\r\n=ZZ"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<16 {
			return
		}
		txt, err := store.ExtractText(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatalf("ExtractText: %v", err)
		}
		if len(txt.Header) > len(raw)*4+64 {
			t.Fatalf("header text of %d bytes from %d bytes of input", len(txt.Header), len(raw))
		}
		store.FoldText(txt.Header + txt.Body) // folding what was extracted never panics
	})
}
