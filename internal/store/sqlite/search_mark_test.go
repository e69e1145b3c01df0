package sqlite

import (
	"strings"
	"testing"
	"time"

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

// TestTextIndexMarkUnderDeliveries: a check that ends after another delivery still
// raises the mark to the UIDNEXT it started with (schema version 9: a busy mailbox
// otherwise read everything on every check), but not after an import below UIDNEXT; and
// every message stays findable.
func TestTextIndexMarkUnderDeliveries(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	s.idx.Close() // no background checks: the test runs them
	ctx := t.Context()
	ensure(t, s, acctA)
	inbox := deliver(t, s, []byte("Subject: a\r\n\r\napple\r\n"), acctA)[0].Mailbox
	mark := func() int64 {
		t.Helper()
		var m int64
		if err := s.rdb.QueryRowContext(ctx, `SELECT mark FROM search_state WHERE mailbox = $1`, int64(inbox)).Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	// check runs one background check, with during() between its start and its mark.
	check := func(during func()) {
		t.Helper()
		st, err := s.searchState(ctx, int64(inbox))
		if err != nil {
			t.Fatal(err)
		}
		todo, err := s.unindexedBlobs(ctx, int64(inbox), st.mark, -1)
		if err == nil {
			during()
			err = s.indexAll(ctx, todo, false, int64(inbox), &st) // its last job marks
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	find := func(needle string, want store.UID) {
		t.Helper()
		if got, err := s.SearchText(ctx, acctA, inbox, store.TextQuery{Needle: needle}); err != nil || len(got) != 1 || got[0] != want {
			t.Fatalf("SearchText(%q) = %v, %v; want [%d]", needle, got, err, want)
		}
	}
	check(func() { deliver(t, s, []byte("Subject: b\r\n\r\nbanana\r\n"), acctA) }) // UID 2 comes in
	if m := mark(); m != 2 {
		t.Fatalf("mark after a check that saw a delivery come in: %d, want 2", m)
	}
	find("banana", 2)
	find("apple", 1)

	// An import below UIDNEXT during a check: the mark goes down to it and stays there.
	if _, err := s.c.do(ctx, func(w *wtx) error {
		_, err := w.exec(`UPDATE mailboxes SET uidnext = 10 WHERE id = $1`, int64(inbox))
		return err
	}, nil); err != nil {
		t.Fatal(err)
	}
	before := mark()
	check(func() {
		if err := s.ImportMessages(ctx, acctA, inbox, []store.ImportMessage{{UID: 5, ModSeq: 1,
			InternalDate: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Body: strings.NewReader("Subject: c\r\n\r\ncherry\r\n")}}); err != nil {
			t.Fatal(err)
		}
	})
	if m := mark(); m > 5 || m > before {
		t.Fatalf("mark after an import of UID 5 during a check: %d (was %d), want it not raised past 5", m, before)
	}
	find("cherry", 5)
}
