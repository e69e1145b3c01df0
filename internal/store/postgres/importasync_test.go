package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

// TestAsyncImporter: the handle's connections commit with synchronous_commit = off
// (read back from the server), its imports are visible through the store at once,
// FlushCommits succeeds, SetMailboxSync records the watermark, and a server start time
// other than the handle's (as after a crash and restart) makes FlushCommits and
// SetMailboxSync fail without recording anything.
func TestAsyncImporter(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ctx := t.Context()
	imp, err := s.AsyncImporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := imp.(*asyncImporter)
	t.Cleanup(func() { _ = a.Close() })
	var setting string
	if err := a.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "off" {
		t.Fatalf("synchronous_commit on the import handle = %q, want off", setting)
	}
	if err := s.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "on" {
		t.Fatalf("synchronous_commit on the store = %q, want on", setting)
	}
	if err := imp.ImportAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	mbox, err := imp.ImportMailbox(ctx, acctA, store.ImportMailbox{Name: store.Inbox, UIDValidity: 9})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	msgs := []store.ImportMessage{{UID: 5, ModSeq: 6, InternalDate: date, Body: bytes.NewReader([]byte("Subject: a\r\n\r\nasync\r\n"))}}
	if err := imp.ImportMessages(ctx, acctA, mbox, msgs); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.Messages(ctx, acctA, mbox, store.Query{}, func(store.Message) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("store sees %d messages (%v), want 1", n, err)
	}
	if err := a.FlushCommits(ctx); err != nil {
		t.Fatal(err)
	}
	if err := imp.SetMailboxSync(ctx, acctA, mbox, 6, 6); err != nil {
		t.Fatal(err)
	}
	uidNext := func() int64 {
		return queryInt(t, sqlConn(t, dsn), `SELECT uidnext FROM mailboxes WHERE id = $1`, int64(mbox))
	}
	if got := uidNext(); got != 6 {
		t.Fatalf("uidnext = %d, want 6", got)
	}

	a.started = a.started.Add(-time.Second) // as if the server restarted since
	if err := a.FlushCommits(ctx); !errors.Is(err, errRestarted) {
		t.Fatalf("FlushCommits after a restart: %v, want errRestarted", err)
	}
	if err := imp.SetMailboxSync(ctx, acctA, mbox, 9, 9); !errors.Is(err, errRestarted) {
		t.Fatalf("SetMailboxSync after a restart: %v, want errRestarted", err)
	}
	if got := uidNext(); got != 6 {
		t.Fatalf("uidnext = %d after a refused watermark, want 6", got)
	}
	checkInvariants(t, dsn)
}

// TestAsyncImporterIndexesAtClose: the handle's imports are handed to the store's text
// indexer when the handle closes, not while it copies (its own Store has no indexer), and
// the indexer then brings the mailbox's text index up to date.
func TestAsyncImporterIndexesAtClose(t *testing.T) {
	s := openAt(t, pgtest.DSN(t), Options{})
	ctx := t.Context()
	imp, err := s.AsyncImporter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := imp.(*asyncImporter)
	t.Cleanup(func() { _ = a.Close() })
	if a.Store.idx != nil || a.idx != s.idx {
		t.Fatal("the handle's imports must not reach the store's indexer before Close")
	}
	if err := imp.ImportAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	mbox, err := imp.ImportMailbox(ctx, acctA, store.ImportMailbox{Name: store.Inbox, UIDValidity: 9})
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var msgs []store.ImportMessage
	for uid := range store.UID(5) {
		msgs = append(msgs, store.ImportMessage{UID: uid + 1, ModSeq: 1, InternalDate: date,
			Body: bytes.NewReader(fmt.Appendf(nil, "Subject: m%d\r\n\r\nwordy body %d\r\n", uid, uid))})
	}
	if err := imp.ImportMessages(ctx, acctA, mbox, msgs); err != nil {
		t.Fatal(err)
	}
	if !a.imported[mbox] {
		t.Fatalf("imported mailboxes %v, want %d", a.imported, mbox)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	left := -1
	for range 3000 { // bounded wait for the indexer's goroutine, not a timing assertion
		if left, err = s.TextUnindexed(ctx, acctA, mbox, 100); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d imported messages left unindexed after the handle closed", left)
}
