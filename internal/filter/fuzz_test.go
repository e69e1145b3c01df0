package filter_test

import (
	"bytes"
	"strings"
	"testing"

	"mailgrid/internal/filter"
)

// FuzzMessageHeaders: whatever bytes arrive as a message, the header view the mailets
// use never panics, an added field reads back first and exactly, a removed name is gone,
// and the edited body still starts with the added field on its own line (no injection:
// CR/LF in the value never start a field of their own).
func FuzzMessageHeaders(f *testing.F) {
	f.Add([]byte("From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"), "X-Test", "value")
	f.Add([]byte("Subject: =?utf-8?q?caf=C3=A9?=\r\n folded\r\n\r\n"), "X-Spam", "yes\r\nBcc: evil@x.example")
	f.Add([]byte("no header at all"), "X-A", "")
	f.Add([]byte("\r\n\r\n"), "Received", strings.Repeat("long ", 100))
	f.Add([]byte("Bad Header\r\nX: y\n\nbody"), "X-B", "\x00\xff")
	f.Fuzz(func(t *testing.T, raw []byte, name, value string) {
		if len(raw) > 1<<16 || len(value) > 1<<12 {
			return
		}
		m := filter.NewMessage(bytes.NewReader(raw))
		if _, err := m.Header("Subject"); err != nil {
			return // an unreadable header is an error, never a panic
		}
		if err := m.AddHeader(name, value); err != nil {
			return // not a field name
		}
		got, err := m.Header(name)
		if err != nil || len(got) == 0 {
			t.Fatalf("added %q not read back: %v %v", name, got, err)
		}
		b := m.Body()
		out := make([]byte, b.Size())
		if _, err := b.ReadAt(out, 0); err != nil && len(out) > 0 {
			t.Fatalf("read edited body: %v", err)
		}
		first, _, _ := bytes.Cut(out, []byte("\r\n"))
		if !bytes.HasPrefix(first, []byte(name+":")) {
			t.Fatalf("edited message starts %q, want the field %q", first, name)
		}
		// The value's CR/LF never start a field of their own: the field after the added one
		// (if any) is one the message had.
		if strings.ContainsAny(value, "\r\n") {
			if got, _ := m.Header("Bcc"); len(got) > 0 && !bytes.Contains(bytes.ToLower(raw), []byte("bcc")) && !strings.EqualFold(name, "Bcc") {
				t.Fatalf("a Bcc field appeared from the value %q", value)
			}
		}
		if err := m.RemoveHeader(name); err != nil {
			t.Fatal(err)
		}
		if got, err := m.Header(name); err != nil || len(got) != 0 {
			t.Fatalf("removed %q still there: %v %v", name, got, err)
		}
	})
}
