package sqlite

import (
	"slices"
	"testing"

	"mailgrid/internal/store"
)

// TestSearchHeaderFill: rows from before schema version 7 (header text NULL) are filled
// from their Meta by the first header search, which answers as if they had been written
// with the message; a message without Meta has no text and is reported unsure.
func TestSearchHeaderFill(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ctx := t.Context()
	ensure(t, s, acctA)
	var inbox store.MailboxID
	for _, m := range []string{"From: Bob <bob@example.org>\r\nSubject: one\r\n\r\nz\r\n",
		"From: carol@example.org\r\nSubject: two\r\n\r\na\r\n", "From: BOB@example.net\r\nSubject: three\r\n\r\nm\r\n"} {
		inbox = deliver(t, s, []byte(m), acctA)[0].Mailbox
	}
	if _, err := s.c.do(ctx, func(w *wtx) error {
		if _, err := w.exec(`UPDATE sort_keys SET h_from = NULL, h_to = NULL, h_cc = NULL, h_bcc = NULL, h_subject = NULL`); err != nil {
			return err
		}
		_, err := w.exec(`UPDATE messages SET meta = NULL WHERE mailbox = $1 AND uid = 3`, int64(inbox))
		return err
	}, nil); err != nil {
		t.Fatal(err)
	}
	match, unsure, err := s.SearchHeader(ctx, acctA, inbox, store.HeaderQuery{Field: store.HeaderFrom, Needle: "Bob"})
	if err != nil || !slices.Equal(match, []store.UID{1}) || !slices.Equal(unsure, []store.UID{3}) {
		t.Fatalf("SearchHeader(from Bob) = %v unsure %v, %v; want [1] unsure [3]", match, unsure, err)
	}
	var nulls int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sort_keys WHERE h_from IS NULL OR h_subject IS NULL`).Scan(&nulls); err != nil || nulls != 0 {
		t.Fatalf("%d rows still without header text (%v)", nulls, err)
	}
	match, unsure, err = s.SearchHeader(ctx, acctA, inbox, store.HeaderQuery{Field: store.HeaderSubject, Needle: "T", MinUID: 2})
	if err != nil || !slices.Equal(match, []store.UID{2}) || !slices.Equal(unsure, []store.UID{3}) {
		t.Fatalf("SearchHeader(subject T, 2:*) = %v unsure %v, %v; want [2] unsure [3]", match, unsure, err)
	}
}
