package sqlite

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// TestSortKeysWritten: every insert path (delivery to two accounts, copy, move, import)
// writes a message's sort keys with it (schema version 6), equal to store.SortKeys of its
// meta, so no sorted page has keys to fill, and its header search text (store.KeysOf). A copy of a message still without keys (as
// written before version 6) gets none either, and the first page sorted by subject fills
// both and orders them.
func TestSortKeysWritten(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ctx := t.Context()
	ensure(t, s, acctA, acctB)
	var inbox store.MailboxID
	for _, m := range []string{"From: Bob <bob@example.org>\r\nSubject: Re: zebra\r\n\r\nz\r\n",
		"From: carol@example.org\r\nSubject: apple\r\n\r\na\r\n", "Subject: [list] mango\r\n\r\nm\r\n"} {
		inbox = deliver(t, s, []byte(m), acctA, acctB)[0].Mailbox
	}
	other, err := s.CreateMailbox(ctx, acctA, "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, acctA, inbox, []store.UID{1}, other.ID, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, acctA, inbox, []store.UID{2}, other.ID); err != nil {
		t.Fatal(err)
	}
	acctC := store.AccountRef{Domain: "example.com", ID: 3}
	if err := s.ImportAccount(ctx, acctC); err != nil {
		t.Fatal(err)
	}
	imported, err := s.ImportMailbox(ctx, acctC, store.ImportMailbox{Name: store.Inbox, UIDValidity: 7})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	if err := s.ImportMessages(ctx, acctC, imported, []store.ImportMessage{
		{UID: 4, ModSeq: 2, InternalDate: date, Body: bytes.NewReader([]byte("From: Dan <d@example.org>\r\nSubject: Fwd: kiwi\r\n\r\nk\r\n"))},
	}); err != nil {
		t.Fatal(err)
	}
	checkSortKeys(t, s, 8)

	// A message from before version 6: its keys NULL. Its copy gets no keys from it; the
	// first page by subject fills both.
	if _, err := s.c.do(ctx, func(w *wtx) error {
		_, err := w.exec(`UPDATE sort_keys SET sender = NULL, subject = NULL WHERE mailbox = $1 AND uid = 3`, int64(inbox))
		return err
	}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Copy(ctx, acctA, inbox, []store.UID{3}, other.ID, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	var nulls int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM sort_keys WHERE subject IS NULL`).Scan(&nulls); err != nil || nulls != 2 {
		t.Fatalf("%d rows without keys (%v), want the old one and its copy", nulls, err)
	}
	page, err := s.ListMessages(ctx, acctA, other.ID, store.ListQuery{Sort: store.SortSubject, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.UID
	for _, m := range page.Messages {
		got = append(got, m.UID)
	}
	if !slices.Equal(got, []store.UID{2, 3, 1}) { // apple, mango, zebra
		t.Fatalf("Other by subject: UIDs %v, want [2 3 1]", got)
	}
	if _, err := s.ListMessages(ctx, acctA, inbox, store.ListQuery{Sort: store.SortFrom, Limit: 10}); err != nil {
		t.Fatal(err)
	}
	checkSortKeys(t, s, 9)
}

// checkSortKeys checks that the shard holds n messages, each with a sort_keys row whose
// keys are store.SortKeys of its meta, and no other sort_keys rows.
func checkSortKeys(t *testing.T, s *Store, n int) {
	t.Helper()
	rows, err := s.rdb.QueryContext(t.Context(), `SELECT m.mailbox, m.uid, m.meta, k.sender, k.subject,
		k.h_from, k.h_to, k.h_cc, k.h_bcc, k.h_subject FROM messages m LEFT JOIN sort_keys k ON k.mailbox = m.mailbox AND k.uid = m.uid`)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var (
			mbox, uid     int64
			meta          []byte
			from, subject *string
			h             [5]*string
		)
		if err := rows.Scan(&mbox, &uid, &meta, &from, &subject, &h[0], &h[1], &h[2], &h[3], &h[4]); err != nil {
			t.Fatal(errors.Join(err, rows.Close()))
		}
		seen++
		wf, ws := store.SortKeys(meta)
		if from == nil || subject == nil || *from != wf || *subject != ws {
			t.Errorf("mailbox %d UID %d: keys %v %v, want %q %q", mbox, uid, from, subject, wf, ws)
		}
		wh := store.KeysOf(meta).Header
		for i, want := range []string{wh.From, wh.To, wh.Cc, wh.Bcc, wh.Subject} {
			if h[i] == nil || *h[i] != want {
				t.Errorf("mailbox %d UID %d: header text %d %v, want %q (schema 7/8: written with the message)", mbox, uid, i, h[i], want)
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	var k int
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT count(*) FROM sort_keys`).Scan(&k); err != nil {
		t.Fatal(err)
	}
	if seen != n || k != n {
		t.Errorf("%d messages and %d sort_keys rows, want %d", seen, k, n)
	}
}
