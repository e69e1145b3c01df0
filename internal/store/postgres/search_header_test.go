package postgres

import (
	"slices"
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
	"mailgrid/internal/testkit/pgtest"
)

// TestSearchHeaderFill: rows from before schema version 8 (header text NULL) are filled
// from their Meta by the first header search, which answers as if they had been written
// with the message; a message without Meta has no text and is reported unsure.
func TestSearchHeaderFill(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ctx := t.Context()
	ensure(t, s, acctA)
	var inbox store.MailboxID
	for _, m := range []string{"From: Bob <bob@example.org>\r\nSubject: one\r\n\r\nz\r\n",
		"From: carol@example.org\r\nSubject: two\r\n\r\na\r\n", "From: BOB@example.net\r\nSubject: three\r\n\r\nm\r\n"} {
		inbox = deliver(t, s, []byte(m), acctA)[0].Mailbox
	}
	c := sqlConn(t, dsn)
	for _, q := range []string{`UPDATE sort_keys SET h_from = NULL, h_to = NULL, h_cc = NULL, h_bcc = NULL, h_subject = NULL`,
		`UPDATE messages SET meta = NULL WHERE uid = 3`} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	match, unsure, err := s.SearchHeader(ctx, acctA, inbox, store.HeaderQuery{Field: store.HeaderFrom, Needle: "Bob"})
	if err != nil || !slices.Equal(match, []store.UID{1}) || !slices.Equal(unsure, []store.UID{3}) {
		t.Fatalf("SearchHeader(from Bob) = %v unsure %v, %v; want [1] unsure [3]", match, unsure, err)
	}
	if n := queryInt(t, c, `SELECT count(*) FROM sort_keys WHERE h_from IS NULL OR h_subject IS NULL`); n != 0 {
		t.Fatalf("%d rows still without header text", n)
	}
	match, unsure, err = s.SearchHeader(ctx, acctA, inbox, store.HeaderQuery{Field: store.HeaderSubject, Needle: "T", MinUID: 2})
	if err != nil || !slices.Equal(match, []store.UID{2}) || !slices.Equal(unsure, []store.UID{3}) {
		t.Fatalf("SearchHeader(subject T, 2:*) = %v unsure %v, %v; want [2] unsure [3]", match, unsure, err)
	}
}

// BenchmarkSearchHeader: storetest.BenchSearchHeader (SEARCH FROM over 250 messages).
//
//	go test -run XXX -bench SearchHeader -benchmem ./internal/store/postgres
func BenchmarkSearchHeader(b *testing.B) {
	storetest.BenchSearchHeader(b, openAt(b, pgtest.DSN(b), Options{}))
}
