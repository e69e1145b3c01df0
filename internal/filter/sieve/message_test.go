package sieve

import (
	"io"
	"strings"
	"testing"

	"mailgrid/internal/message"
)

func TestNewMessageHeaders(t *testing.T) {
	raw := crlf("Received: from a\n" +
		"Subject: =?ISO-8859-1?Q?Caf=E9?= and\n" +
		"  =?UTF-8?B?4piV?= folded\n" +
		"received: from b\n" +
		"X-Latin1: caf\xe9\n" +
		"From: =?utf-8?q?Doe=2C_John?= <jd@x.example>\n" +
		"\n" +
		"Subject: not a header, the body\n")
	info, err := message.Parse(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMessage(strings.NewReader(raw), int64(len(raw)), info, Envelope{})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header("SUBJECT"); len(got) != 1 || got[0] != "Café and  ☕ folded" { // unfolding keeps the white space (RFC 5322 2.2.3)
		t.Errorf("Subject = %q", got)
	}
	if got := m.Header("Received"); len(got) != 2 || got[1] != "from b" {
		t.Errorf("Received = %q", got)
	}
	if got := m.Header("x-latin1"); len(got) != 1 || got[0] != "café" {
		t.Errorf("X-Latin1 = %q (raw 8-bit read as Latin-1)", got)
	}
	if m.Size() != int64(len(raw)) {
		t.Errorf("Size = %d", m.Size())
	}
	body, err := m.Body()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	if err != nil || string(b) != "Subject: not a header, the body\r\n" {
		t.Errorf("Body = %q, %v", b, err)
	}
	// The decoded display name holds a comma; the address test still finds the address.
	res := runScript(t, `if address :is "from" "jd@x.example" { discard; }`, testMsg{raw: raw, from: "a@b.example"}, RunOptions{})
	if summary(res) != "discard" {
		t.Errorf("address in a decoded From: %q", summary(res))
	}
}

func TestNewMessageParts(t *testing.T) {
	m := testMsg{raw: mimeMsg}.message(t)
	parts, err := m.Parts()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, p := range parts {
		types = append(types, p.Type+"/"+p.Subtype)
	}
	want := "multipart/mixed multipart/alternative text/plain text/html application/octet-stream message/rfc822 text/plain"
	if strings.Join(types, " ") != want {
		t.Errorf("parts %q, want %q", strings.Join(types, " "), want)
	}
	r, err := parts[2].Open()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "Café au lait, plain part." {
		t.Errorf("text/plain content %q, %v", b, err)
	}
}
