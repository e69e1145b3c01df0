package imapserver

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// TestMetaFieldsMatch checks that header keys evaluated from the raw Meta (metaFields)
// give what they give over the fully decoded message.Info, on every test message.
func TestMetaFieldsMatch(t *testing.T) {
	files, err := filepath.Glob("testdata/messages/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("test messages: %v", err)
	}
	msgs := [][]byte{[]byte("From: \"Quote \\\" {[brackets]}\" <q@example.org>\r\nTo: a@b, \"x, y\" <c@d>\r\n" +
		"Cc: Carol <carol@example.net>, dave@example.net\r\nBcc: eve@example.com\r\n" +
		"Subject: =?UTF-8?Q?caf=C3=A9?= \"}\r\nDate: Tue, 3 Mar 2026 10:00:00 +0100\r\n\r\nbody\r\n"),
		[]byte("Subject: no date, no from\r\n\r\nx\r\n")}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	var keys []*searchKey
	for _, op := range []string{"FROM", "TO", "CC", "BCC", "SUBJECT"} {
		for _, needle := range []string{"", "example", "EXAMPLE.ORG", "<q@example.org>", "carol <", " ", "a@b, ",
			"café", "=?utf-8?q?caf", "x, y", "brackets]}", "\"", "nothing here"} {
			keys = append(keys, &searchKey{op: op, str: needle})
		}
	}
	for _, op := range []string{"SENTBEFORE", "SENTON", "SENTSINCE"} {
		for _, d := range []string{"2026-03-03", "2026-03-02", "2026-03-04", "2000-01-01"} {
			keys = append(keys, &searchKey{op: op, date: day(d)})
		}
	}
	internal := time.Date(2026, 3, 3, 23, 30, 0, 0, time.UTC)
	for i, m := range msgs {
		info, err := message.Parse(bytes.NewReader(m), int64(len(m)))
		if err != nil {
			t.Fatal(err)
		}
		meta, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		mf, err := parseMetaFields(meta)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		full := &searchMsg{m: store.Message{InternalDate: internal}, f: &fetchMsg{info: info}}
		for _, k := range keys {
			if got, want := mf.match(k, internal), full.matchContent(k); got != want {
				t.Errorf("message %d: %s %q %v: %v from Meta, %v from Info", i, k.op, k.str, k.date, got, want)
			}
		}
	}
	for _, bad := range []string{``, `[]`, `{"env":`, `{"env":{"a":"}`, `{"size":1,}`, `{"size" 1}`, `{"subject":"x"`, `{"size":}`} {
		if _, err := parseMetaFields([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
