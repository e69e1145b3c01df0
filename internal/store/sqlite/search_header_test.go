package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
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

// TestSortKeysOnlyWithMessages: no path leaves a sort_keys row without its message, which
// headerRows relies on (it reads sort_keys alone): delivery (to several targets, one over
// quota, one unknown), APPEND (a delivery to a named mailbox with flags and a date), COPY
// (with a missing UID, over quota), MOVE, import (new messages, flags of one held, import
// expunges), EXPUNGE, mailbox delete (and a mailbox taking the deleted one's id), a
// dropped import mailbox, account purge, and inserts that fail after their sort_keys row
// was written (a UID taken: the job is rolled back, alone and beside others in a batch).
func TestSortKeysOnlyWithMessages(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ctx := t.Context()
	ensure(t, s, acctA, acctB)
	step := func(what string) {
		t.Helper()
		rows, err := s.rdb.QueryContext(ctx, `SELECT k.mailbox, k.uid FROM sort_keys k
			WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.mailbox = k.mailbox AND m.uid = k.uid)`)
		if err != nil {
			t.Fatal(err)
		}
		var orphans [][2]int64
		for rows.Next() {
			var o [2]int64
			if err := rows.Scan(&o[0], &o[1]); err != nil {
				t.Fatal(errors.Join(err, rows.Close()))
			}
			orphans = append(orphans, o)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		if len(orphans) > 0 {
			t.Fatalf("after %s: sort_keys rows (mailbox, uid) without a message: %v", what, orphans)
		}
	}
	msg := func(i int) []byte {
		return fmt.Appendf(nil, "From: Sender %d <s%d@example.org>\r\nTo: r@example.com\r\nSubject: message %d\r\n\r\nbody %d\r\n", i, i, i, i)
	}
	unknown := store.AccountRef{Domain: "example.com", ID: 99}
	res, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(msg(0)), Targets: []store.DeliveryTarget{
		{Account: acctA}, {Account: acctB}, {Account: unknown}, {Account: acctB, Quota: store.Quota{Messages: 1}}}})
	if err != nil || res[0].Err != nil || res[1].Err != nil || !errors.Is(res[2].Err, store.ErrNotFound) || !errors.Is(res[3].Err, store.ErrOverQuota) {
		t.Fatalf("Deliver: %+v %v", res, err)
	}
	inbox := res[0].Mailbox
	for i := 1; i < 6; i++ {
		deliver(t, s, msg(i), acctA)
	}
	step("delivery")
	archive, err := s.CreateMailbox(ctx, acctA, "Kept", "")
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 11, 1, 10, 0, 0, 0, time.FixedZone("", 3600))
	if _, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(msg(6)), InternalDate: date,
		Targets: []store.DeliveryTarget{{Account: acctA, Mailbox: "Kept", Flags: []string{`\Seen`}}}}); err != nil {
		t.Fatal(err)
	}
	step("APPEND")
	if _, err := s.Copy(ctx, acctA, inbox, []store.UID{1, 2, 99}, archive.ID, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	step("COPY")
	if _, err := s.Copy(ctx, acctA, inbox, []store.UID{3, 4}, archive.ID, store.Quota{Messages: 2}); !errors.Is(err, store.ErrOverQuota) {
		t.Fatalf("COPY over quota: %v", err)
	}
	step("COPY over quota")
	if _, err := s.Move(ctx, acctA, inbox, []store.UID{3, 98}, archive.ID); err != nil {
		t.Fatal(err)
	}
	step("MOVE")
	if _, err := s.Expunge(ctx, acctA, inbox, []store.UID{4}); err != nil {
		t.Fatal(err)
	}
	step("EXPUNGE")

	// Inserts failing after their sort_keys row: the mailbox's UIDNEXT set back so the
	// next UID is taken. The delivery and the copy fail and leave the held rows as they
	// were (checkSortKeys at the end compares their keys); deliveries beside them in the
	// same batch (run again with savepoints) are stored.
	setUIDNext := func(mbox store.MailboxID, next int64) {
		t.Helper()
		if _, err := s.c.do(ctx, func(w *wtx) error {
			_, err := w.exec(`UPDATE mailboxes SET uidnext = $2 WHERE id = $1`, int64(mbox), next)
			return err
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setUIDNext(archive.ID, 1)
	if _, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(msg(7)),
		Targets: []store.DeliveryTarget{{Account: acctA, Mailbox: "Kept"}}}); err == nil {
		t.Fatal("delivery to a taken UID stored")
	}
	if _, err := s.Copy(ctx, acctA, inbox, []store.UID{5}, archive.ID, store.Quota{}); err == nil {
		t.Fatal("copy to a taken UID stored")
	}
	step("failed insert")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			box := ""
			if i == 0 {
				box = "Kept"
			}
			_, errs[i] = s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(msg(10 + i)),
				Targets: []store.DeliveryTarget{{Account: acctB, Mailbox: box}, {Account: acctA, Mailbox: box}}})
		})
	}
	wg.Wait()
	if errs[0] == nil {
		t.Fatal("delivery to a taken UID stored")
	}
	for _, err := range errs[1:] {
		if err != nil {
			t.Fatal(err)
		}
	}
	step("failed insert in a batch")
	setUIDNext(archive.ID, 100)

	acctC := store.AccountRef{Domain: "example.com", ID: 3}
	if err := s.ImportAccount(ctx, acctC); err != nil {
		t.Fatal(err)
	}
	imported, err := s.ImportMailbox(ctx, acctC, store.ImportMailbox{Name: store.Inbox, UIDValidity: 7})
	if err != nil {
		t.Fatal(err)
	}
	var ims []store.ImportMessage
	for i := range 4 {
		ims = append(ims, store.ImportMessage{UID: store.UID(2 + 2*i), ModSeq: 2, InternalDate: date, Body: bytes.NewReader(msg(20 + i))})
	}
	if err := s.ImportMessages(ctx, acctC, imported, ims); err != nil {
		t.Fatal(err)
	}
	if err := s.ImportMessages(ctx, acctC, imported, []store.ImportMessage{{UID: 4, ModSeq: 3, Flags: []string{`\Seen`}},
		{UID: 1, ModSeq: 3, InternalDate: date, Body: bytes.NewReader(msg(30))}}); err != nil {
		t.Fatal(err)
	}
	step("import")
	if err := s.ImportExpunged(ctx, acctC, imported, []store.UID{2, 6, 50}, 4); err != nil {
		t.Fatal(err)
	}
	step("import expunges")
	other, err := s.ImportMailbox(ctx, acctC, store.ImportMailbox{Name: "Other", UIDValidity: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportMessages(ctx, acctC, other, ims[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.DropMailbox(ctx, acctC, other); err != nil {
		t.Fatal(err)
	}
	step("dropped import mailbox")
	checkSortKeys(t, s, 7+1+2-1+2*7+5-2) // deliveries, APPEND, copies, expunge, the batch, imports, import expunges
	hs := func(a store.AccountRef, mbox store.MailboxID) []store.UID {
		t.Helper()
		m, u, err := s.SearchHeader(ctx, a, mbox, store.HeaderQuery{Field: store.HeaderFrom, Needle: "sender"})
		if err != nil || len(u) > 0 {
			t.Fatalf("SearchHeader: %v unsure %v, %v", m, u, err)
		}
		return m
	}

	// The last mailbox deleted: a new one takes its id and must not see its rows.
	if err := s.DeleteMailbox(ctx, acctA, "Kept"); err != nil {
		t.Fatal(err)
	}
	step("mailbox delete")
	again, err := s.CreateMailbox(ctx, acctA, "Again", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := hs(acctA, again.ID); again.ID == archive.ID && len(got) > 0 {
		t.Fatalf("a new mailbox with the deleted one's id finds %v", got)
	}
	if err := s.DeleteAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	step("account purge")
	if err := s.DeleteAccount(ctx, acctC); err != nil {
		t.Fatal(err)
	}
	step("account purge")
	if got := hs(acctB, res[1].Mailbox); len(got) != 8 {
		t.Fatalf("SearchHeader in the remaining account: %v, want its 8 messages", got)
	}
	checkSortKeys(t, s, 8)
}

// TestParseUIDList: the group_concat lists headerRows reads, ascending whatever order
// they come in; anything else in them is an error.
func TestParseUIDList(t *testing.T) {
	for in, want := range map[string][]store.UID{
		"": nil, "7": {7}, "1,2,3": {1, 2, 3}, "9,3,4294967295,1": {1, 3, 9, 4294967295},
	} {
		got, err := parseUIDList([]byte(in))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseUIDList(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{",", "1,", ",1", "1,,2", "1;2", "-1", "4294967296", "12345678901", "1.5"} {
		if got, err := parseUIDList([]byte(in)); err == nil {
			t.Errorf("parseUIDList(%q) = %v, want an error", in, got)
		}
	}
}

// BenchmarkSearchHeader: storetest.BenchSearchHeader (SEARCH FROM over 250 messages).
//
//	go test -run XXX -bench SearchHeader -benchmem ./internal/store/sqlite
func BenchmarkSearchHeader(b *testing.B) {
	s := benchStore(b)
	storetest.BenchSearchHeader(b, s)
}
