package postgres

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

// TestImportBlobRefs checks the reference counts ImportMessages gives the blobs it
// stores with their count preset: one content carried by two imported messages, content
// the shard already holds (a delivery), a UID the mailbox already holds given a new body
// (the upsert keeps the old message: the new blob has no reference), a body of several
// parts (counted by the messages' insert), and a re-run of the same call. Then every
// message goes and every blob must be free.
func TestImportBlobRefs(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ctx := t.Context()
	ensure(t, s, acctB)
	shared := []byte("Subject: shared\r\n\r\nheld by another account already\r\n")
	deliver(t, s, shared, acctB)
	if err := s.ImportAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	mbox, err := s.ImportMailbox(ctx, acctA, store.ImportMailbox{Name: store.Inbox, UIDValidity: 7})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	twice := []byte("Subject: twice\r\n\r\nthe same body in two messages\r\n")
	first := []store.ImportMessage{
		{UID: 1, ModSeq: 2, InternalDate: date, Body: bytes.NewReader(twice)},
		{UID: 2, ModSeq: 3, InternalDate: date, Body: bytes.NewReader(twice), Flags: []string{`\Seen`}},
		{UID: 3, ModSeq: 4, InternalDate: date, Body: bytes.NewReader(shared)},
		{UID: 4, ModSeq: 5, InternalDate: date, Body: &genBody{size: 2*PartSize + 10}},
	}
	for range 2 { // the second call finds everything held
		if err := s.ImportMessages(ctx, acctA, mbox, first); err != nil {
			t.Fatal(err)
		}
		if err := s.SetMailboxSync(ctx, acctA, mbox, 5, 5); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, dsn)
	}
	late := []byte("Subject: late\r\n\r\nanother body for a UID already held\r\n")
	if err := s.ImportMessages(ctx, acctA, mbox, []store.ImportMessage{
		{UID: 1, ModSeq: 6, InternalDate: date, Body: bytes.NewReader(late)},
		{UID: 5, ModSeq: 7, InternalDate: date, Body: bytes.NewReader(late)},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMailboxSync(ctx, acctA, mbox, 6, 7); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, dsn)
	// Blobs in insertion order: shared, the large one (stored first, alone), twice, late.
	if got := blobRefs(t, dsn); !slices.Equal(got, []int64{2, 1, 2, 1}) {
		t.Errorf("blob refs %v, want [2 1 2 1]", got)
	}
	if got := readAll(t, s, acctA, messageID(t, s, acctA, mbox, 1)); !bytes.Equal(got, twice) {
		t.Errorf("UID 1 reads %q, want its first body kept", got)
	}
	if _, err := s.Expunge(ctx, acctA, mbox, []store.UID{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, acctB); err != nil {
		t.Fatal(err)
	}
	if got := blobRefs(t, dsn); !slices.Equal(got, []int64{0, 0, 0, 0}) {
		t.Errorf("blob refs after removing every message %v, want all free", got)
	}
	checkInvariants(t, dsn)
}

// messageID returns the row ID of uid in mbox.
func messageID(t *testing.T, s *Store, acct store.AccountRef, mbox store.MailboxID, uid store.UID) int64 {
	t.Helper()
	var id int64
	err := s.Messages(t.Context(), acct, mbox, store.Query{NoMeta: true}, func(m store.Message) error {
		if m.UID == uid {
			id = m.ID
		}
		return nil
	})
	if err != nil || id == 0 {
		t.Fatalf("UID %d: %v (id %d)", uid, err, id)
	}
	return id
}
