package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// blobOf returns the blob id of a message.
func blobOf(t *testing.T, s *Store, mbox store.MailboxID, uid store.UID) int64 {
	t.Helper()
	var id int64
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT blob FROM messages WHERE mailbox = $1 AND uid = $2`,
		int64(mbox), int64(uid)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// indexRows counts the search.db rows of the given blobs.
func indexRows(t *testing.T, s *Store, blobs ...int64) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT count(*) FROM sx.search_text WHERE rowid IN (SELECT value FROM json_each($1))`,
		jsonIDs(blobs)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func searchUIDs(t *testing.T, s *Store, acct store.AccountRef, mbox store.MailboxID, needle string) []store.UID {
	t.Helper()
	got, err := s.SearchText(t.Context(), acct, mbox, store.TextQuery{Needle: needle})
	if err != nil {
		t.Fatalf("SearchText(%q): %v", needle, err)
	}
	return got
}

// waitNoRows waits until the background freer removed the rows of blobs (it is woken by
// the commit that freed them); the deadline only bounds a failing test.
func waitNoRows(t *testing.T, s *Store, what string, blobs ...int64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); indexRows(t, s, blobs...) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the index still has %d rows of the deleted mail", what, indexRows(t, s, blobs...))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var queued int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := s.rdb.QueryRowContext(t.Context(), `SELECT count(*) FROM search_free`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d freed blobs stay queued", what, queued)
		}
	}
}

// TestTextIndexDeletedMailLeaves: the index rows of mail deleted by each path (expunge,
// mailbox delete, account delete) go in the background freer's next round (the commit
// wakes it), and rows of bodies still referenced elsewhere stay.
func TestTextIndexDeletedMailLeaves(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ctx := t.Context()
	ensure(t, s, acctA, acctB)
	inbox := deliver(t, s, []byte("Subject: one\r\n\r\nzebra alpha\r\n"), acctA)[0].Mailbox
	deliver(t, s, []byte("Subject: two\r\n\r\nzebra beta\r\n"), acctA)
	shared := deliver(t, s, []byte("Subject: three\r\n\r\nzebra gamma\r\n"), acctA, acctB) // one body, two accounts
	if got := searchUIDs(t, s, acctA, inbox, "zebra"); !slices.Equal(got, []store.UID{1, 2, 3}) {
		t.Fatalf("before: %v", got)
	}
	b1, b2, b3 := blobOf(t, s, inbox, 1), blobOf(t, s, inbox, 2), blobOf(t, s, inbox, 3)
	if n := indexRows(t, s, b1, b2, b3); n != 3 {
		t.Fatalf("%d index rows after the search, want 3", n)
	}

	if _, err := s.Expunge(ctx, acctA, inbox, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	if got := searchUIDs(t, s, acctA, inbox, "alpha"); len(got) != 0 {
		t.Fatalf("search after expunge = %v, want none", got)
	}
	waitNoRows(t, s, "expunge", b1)

	// Account delete: B's copy of the shared body keeps its row until B goes.
	if err := s.DeleteAccount(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	waitNoRows(t, s, "account delete", b2)
	if indexRows(t, s, b3) != 1 {
		t.Fatal("the row of a body another account still holds went")
	}
	if got := searchUIDs(t, s, acctB, shared[1].Mailbox, "gamma"); !slices.Equal(got, []store.UID{1}) {
		t.Fatalf("B's search = %v, want [1]", got)
	}

	// Mailbox delete.
	if _, err := s.CreateMailbox(ctx, acctB, "Old", ""); err != nil {
		t.Fatal(err)
	}
	old, err := s.Mailbox(ctx, acctB, "Old")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, acctB, shared[1].Mailbox, []store.UID{1}, old.ID); err != nil {
		t.Fatal(err)
	}
	if got := searchUIDs(t, s, acctB, old.ID, "gamma"); !slices.Equal(got, []store.UID{1}) {
		t.Fatalf("search in Old = %v, want [1]", got)
	}
	if err := s.DeleteMailbox(ctx, acctB, "Old"); err != nil {
		t.Fatal(err)
	}
	waitNoRows(t, s, "mailbox delete", b3)
}

// TestTextIndexExpungedBeforeDrain: until the freer runs, an expunged message's row is
// still in the index, and a search does not return its UID (rows are matched through
// messages.blob); the drain then deletes the row and empties the queue.
func TestTextIndexExpungedBeforeDrain(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	s.free.close()
	ctx := t.Context()
	ensure(t, s, acctA)
	inbox := deliver(t, s, []byte("Subject: one\r\n\r\nzebra alpha\r\n"), acctA)[0].Mailbox
	deliver(t, s, []byte("Subject: two\r\n\r\nzebra beta\r\n"), acctA)
	if got := searchUIDs(t, s, acctA, inbox, "zebra"); !slices.Equal(got, []store.UID{1, 2}) {
		t.Fatalf("before: %v", got)
	}
	b1 := blobOf(t, s, inbox, 1)
	if _, err := s.Expunge(ctx, acctA, inbox, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	if indexRows(t, s, b1) != 1 {
		t.Fatal("the row went without the freer")
	}
	if got := searchUIDs(t, s, acctA, inbox, "zebra"); !slices.Equal(got, []store.UID{2}) {
		t.Fatalf("search after expunge = %v, want [2]", got)
	}
	if n, err := s.drainFreed(ctx); err != nil || n != 1 {
		t.Fatalf("drain = %d, %v; want 1 entry", n, err)
	}
	waitNoRows(t, s, "drain", b1) // no wait: checks the rows and the queue
}

// TestTextIndexRevivedBlob: a body freed and delivered again before the freer deletes its
// row. The pass that checks the mailbox in between finds the row and marks the mailbox
// clean (here once completed before the drain, once in flight across it); the drain then
// deletes the row, and its store.db job must make the mailbox unclean again, so the next
// search indexes the body again and finds the message.
func TestTextIndexRevivedBlob(t *testing.T) {
	for _, inFlight := range []bool{false, true} {
		s := openAt(t, t.TempDir(), nil, 0)
		s.idx.Close() // the test runs the passes
		s.free.close()
		ctx := t.Context()
		ensure(t, s, acctA)
		body := []byte("Subject: again\r\n\r\nphoenix rising\r\n")
		inbox := deliver(t, s, body, acctA)[0].Mailbox
		if got := searchUIDs(t, s, acctA, inbox, "phoenix"); !slices.Equal(got, []store.UID{1}) {
			t.Fatalf("first search = %v", got)
		}
		blob := blobOf(t, s, inbox, 1)
		if _, err := s.Expunge(ctx, acctA, inbox, []store.UID{1}); err != nil { // queued in search_free
			t.Fatal(err)
		}
		deliver(t, s, body, acctA) // UID 2 revives the blob; its row is still there
		if got := blobOf(t, s, inbox, 2); got != blob {
			t.Fatalf("the same content got blob %d, not %d: no revival to test", got, blob)
		}
		if inFlight {
			// A pass reads the state and finds nothing unindexed, the drain runs, then
			// the pass marks clean with the state it read.
			st, err := s.searchState(ctx, int64(inbox))
			if err != nil {
				t.Fatal(err)
			}
			todo, err := s.unindexedBlobs(ctx, int64(inbox), st.mark, -1)
			if err != nil || len(todo) != 0 {
				t.Fatalf("unindexed = %v, %v; want none (the row is there)", todo, err)
			}
			if n, err := s.drainFreed(ctx); err != nil || n != 1 {
				t.Fatalf("drain = %d, %v", n, err)
			}
			if err := s.indexAll(ctx, todo, false, int64(inbox), &st); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := s.indexMailbox(ctx, int64(inbox)); err != nil { // finds the row: clean
				t.Fatal(err)
			}
			if n, err := s.drainFreed(ctx); err != nil || n != 1 {
				t.Fatalf("drain = %d, %v", n, err)
			}
		}
		if got := searchUIDs(t, s, acctA, inbox, "phoenix"); !slices.Equal(got, []store.UID{2}) {
			t.Fatalf("in flight %v: search after the drain = %v, want [2]", inFlight, got)
		}
		if indexRows(t, s, blob) != 1 {
			t.Fatalf("in flight %v: the revived body has no row", inFlight)
		}
	}
}

// TestTextIndexFreedDuringPass: a body freed after a pass listed it as unindexed gets no
// row (the pass reads the refs under search.db's write lock).
func TestTextIndexFreedDuringPass(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	s.idx.Close()
	s.free.close()
	ctx := t.Context()
	ensure(t, s, acctA)
	inbox := deliver(t, s, []byte("Subject: brief\r\n\r\nmayfly\r\n"), acctA)[0].Mailbox
	blob := blobOf(t, s, inbox, 1)
	st, err := s.searchState(ctx, int64(inbox))
	if err != nil {
		t.Fatal(err)
	}
	todo, err := s.unindexedBlobs(ctx, int64(inbox), st.mark, -1)
	if err != nil || len(todo) != 1 {
		t.Fatalf("unindexed = %v, %v; want the one body", todo, err)
	}
	if _, err := s.Expunge(ctx, acctA, inbox, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	if err := s.indexAll(ctx, todo, false, int64(inbox), &st); err != nil {
		t.Fatal(err)
	}
	if n := indexRows(t, s, blob); n != 0 {
		t.Fatalf("a body freed before its index job got %d rows", n)
	}
}

// TestTextIndexFileRecreated: search.db deleted, or overwritten with garbage, between
// runs: Open re-creates it and makes every mailbox unclean, so a search (or the
// background indexer) indexes the mail again and finds it.
func TestTextIndexFileRecreated(t *testing.T) {
	for _, damage := range []string{"deleted", "garbage"} {
		dir := t.TempDir()
		s, err := Open(t.Context(), Options{Dir: dir, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		ensure(t, s, acctA)
		inbox := deliver(t, s, []byte("Subject: x\r\n\r\nquokka\r\n"), acctA)[0].Mailbox
		if got := searchUIDs(t, s, acctA, inbox, "quokka"); !slices.Equal(got, []store.UID{1}) {
			t.Fatalf("before: %v", got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, searchFile)
		if err := removeSearchFiles(path); err != nil {
			t.Fatal(err)
		}
		if damage == "garbage" {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s = openAt(t, dir, nil, 0)
		if got := searchUIDs(t, s, acctA, inbox, "quokka"); !slices.Equal(got, []store.UID{1}) {
			t.Fatalf("search.db %s: search = %v, want [1]", damage, got)
		}
	}
}

// TestUpgradeFromSchema9: a store of schema version 9 (search_text in store.db, the
// mailbox marked clean) opens, moves to version 10 (no search_text, trigger or rows left
// in store.db; state reset) and answers BODY searches from the new search.db.
func TestUpgradeFromSchema9(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ensure(t, s, acctA)
	var inbox store.MailboxID
	for _, m := range []string{"Subject: a\r\n\r\naardvark\r\n", "Subject: b\r\n\r\nbadger\r\n", "Subject: c\r\n\r\naardvark cat\r\n"} {
		inbox = deliver(t, s, []byte(m), acctA)[0].Mailbox
	}
	if _, err := s.Expunge(t.Context(), acctA, inbox, []store.UID{2}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Take the shard back to version 9's layout: the index in store.db, every body of
	// the mailbox indexed (version 9 kept freed blobs' rows out by trigger), the mailbox
	// clean; and no search.db.
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, "store.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TRIGGER search_free_add`,
		`DROP TABLE search_free`,
		`DELETE FROM meta WHERE key = 'search_db'`,
		`CREATE VIRTUAL TABLE search_text USING fts5(header, body, tokenize = 'trigram case_sensitive 1', detail = none)`,
		`CREATE TRIGGER search_text_free AFTER UPDATE OF refs ON blobs WHEN NEW.refs = 0
			BEGIN DELETE FROM search_text WHERE rowid = NEW.id; END`,
		`INSERT INTO search_text (rowid, header, body) SELECT id, 'old', 'old text' FROM blobs WHERE refs > 0`,
		`INSERT INTO search_state (mailbox, gen, clean, mark) SELECT id, 3, 3, uidnext FROM mailboxes WHERE messages > 0
			ON CONFLICT (mailbox) DO UPDATE SET gen = 3, clean = 3, mark = excluded.mark`,
		`UPDATE schema_version SET version = 9`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := errors.Join(db.Close(), removeSearchFiles(filepath.Join(dir, searchFile))); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, dir, nil, 0)
	var version, left int
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(migrations))
	}
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT count(*) FROM main.sqlite_master WHERE name LIKE 'search_text%'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d search_text objects left in store.db (%v)", left, err)
	}
	if got := searchUIDs(t, s, acctA, inbox, "aardvark"); !slices.Equal(got, []store.UID{1, 3}) {
		t.Fatalf("BODY aardvark after the upgrade = %v, want [1 3]", got)
	}
	if got := searchUIDs(t, s, acctA, inbox, "badger"); len(got) != 0 {
		t.Fatalf("BODY badger (expunged) = %v, want none", got)
	}
	if got := searchUIDs(t, s, acctA, inbox, "old text"); len(got) != 0 {
		t.Fatalf("the old index's rows answered: %v", got)
	}
}
