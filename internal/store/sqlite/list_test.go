package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
)

// TestListLargeFilter runs the list cases with every filtered page read by walking the
// sort index (the path of filtered sets larger than smallFilter), not through the
// partial index; the conformance suite covers the other path.
func TestListLargeFilter(t *testing.T) {
	old := smallFilter
	smallFilter = -1
	t.Cleanup(func() { smallFilter = old })
	var d dirs
	storetest.RunList(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.get(t), pub, 0)
	})
}

// TestListAfterUpgrade: a shard written before schema version 5 (messages without
// sort_keys rows) lists by subject after the upgrade: the migration gives every message
// its row and the first page fills the keys.
func TestListAfterUpgrade(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, "store.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	stmts := append(slices.Clone(migrations[:4]),
		`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (4)`,
		`INSERT INTO accounts (domain, id) VALUES ('up.example', 1)`,
		`INSERT INTO mailboxes (id, domain, account, name, uidvalidity, uidnext, messages, unseen) VALUES (1, 'up.example', 1, 'INBOX', 1, 3, 2, 2)`,
		`INSERT INTO blobs (id, sha256, pack, off, len, refs) VALUES (1, x'00', 1, 0, 10, 2)`,
		`INSERT INTO messages (mailbox, uid, modseq, internal_date, size, blob, meta) VALUES
			(1, 1, 1, 1, 10, 1, '{"subject":"Re: zebra"}'), (1, 2, 2, 2, 10, 1, '{"subject":"apple"}')`)
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, dir, nil, 0)
	page, err := s.ListMessages(t.Context(), store.AccountRef{Domain: "up.example", ID: 1}, 1,
		store.ListQuery{Sort: store.SortSubject, Limit: 10})
	if err != nil || page.Total != 2 || len(page.Messages) != 2 || page.Messages[0].UID != 2 || page.Messages[1].UID != 1 {
		t.Fatalf("after the upgrade: %+v %v", page, err)
	}
}
