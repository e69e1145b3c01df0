package sqlite

import (
	"testing"

	"mailgrid/internal/store"
)

// TestTextIndexMark: a search that found every message indexed raises the mailbox's
// mark to UIDNEXT (schema version 8), so the next check reads only newer UIDs, and the
// next search after a delivery raises it past the new message.
func TestTextIndexMark(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ctx := t.Context()
	ensure(t, s, acctA)
	var inbox store.MailboxID
	for _, m := range []string{"Subject: a\r\n\r\napple\r\n", "Subject: b\r\n\r\nbanana\r\n", "Subject: c\r\n\r\ncherry\r\n"} {
		inbox = deliver(t, s, []byte(m), acctA)[0].Mailbox
	}
	mark := func() int64 {
		t.Helper()
		var m int64
		if err := s.rdb.QueryRowContext(ctx, `SELECT mark FROM search_state WHERE mailbox = $1`, int64(inbox)).Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	search := func(needle string, want int) {
		t.Helper()
		got, err := s.SearchText(ctx, acctA, inbox, store.TextQuery{Needle: needle})
		if err != nil || len(got) != want {
			t.Fatalf("SearchText(%q) = %v, %v; want %d UIDs", needle, got, err, want)
		}
	}
	search("banana", 1)
	if m := mark(); m != 4 {
		t.Fatalf("mark after a full check: %d, want UIDNEXT 4", m)
	}
	deliver(t, s, []byte("Subject: d\r\n\r\ndate banana\r\n"), acctA) // the background indexer may raise it too
	search("banana", 2)
	if m := mark(); m != 5 {
		t.Fatalf("mark after the next search: %d, want 5", m)
	}
}
