package postgres

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

var (
	acctA = store.AccountRef{Domain: "example.com", ID: 1}
	acctB = store.AccountRef{Domain: "example.com", ID: 2}
)

func ensure(t *testing.T, s *Store, accts ...store.AccountRef) {
	t.Helper()
	for _, a := range accts {
		if err := s.EnsureAccount(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func deliver(t *testing.T, s *Store, content []byte, targets ...store.AccountRef) []store.DeliveryResult {
	t.Helper()
	var ts []store.DeliveryTarget
	for _, a := range targets {
		ts = append(ts, store.DeliveryTarget{Account: a})
	}
	res, err := s.Deliver(t.Context(), store.Delivery{Body: bytes.NewReader(content), Targets: ts})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return res
}

func readAll(t *testing.T, s *Store, a store.AccountRef, id int64) []byte {
	t.Helper()
	b, err := s.OpenBlob(t.Context(), a, id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
	if err := errors.Join(err, b.Close()); err != nil {
		t.Fatal(err)
	}
	return data
}

// sqlConn is a plain session on a test database, for checks the store API cannot make.
func sqlConn(t testing.TB, dsn string) *pgx.Conn { return sqlConnIn(t, dsn, DefaultSchema) }

func sqlConnIn(t testing.TB, dsn, schema string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func queryInt(t testing.TB, c *pgx.Conn, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// checkInvariants checks, in the database, that every counter agrees with the content:
// mailbox counters, UIDNEXT and HIGHESTMODSEQ, account usage, blob references, the
// bytes of every blob's parts, and the text index's watermarks (no message below a mark
// without its index row).
func checkInvariants(t testing.TB, dsn string) { checkInvariantsIn(t, dsn, DefaultSchema) }

func checkInvariantsIn(t testing.TB, dsn, schema string) {
	t.Helper()
	c := sqlConnIn(t, dsn, schema)
	checks := map[string]string{
		"mailbox counters": `SELECT count(*) FROM mailboxes x WHERE
			messages != (SELECT count(*) FROM messages WHERE mailbox = x.id) OR
			unseen != (SELECT count(*) FROM messages WHERE mailbox = x.id AND NOT seen) OR
			size != (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox = x.id) OR
			uidnext <= (SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox = x.id) OR
			uidnext <= (SELECT coalesce(max(uid), 0) FROM expunged WHERE mailbox = x.id) OR
			highestmodseq < (SELECT coalesce(max(modseq), 0) FROM messages WHERE mailbox = x.id) OR
			highestmodseq < (SELECT coalesce(max(modseq), 0) FROM expunged WHERE mailbox = x.id)`,
		"seen column": `SELECT count(*) FROM messages WHERE seen != ('\Seen' = ANY(flags))`,
		"account usage": `SELECT count(*) FROM accounts a WHERE
			bytes != (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes x ON x.id = m.mailbox
				WHERE x.domain = a.domain AND x.account = a.id) OR
			messages != (SELECT count(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox
				WHERE x.domain = a.domain AND x.account = a.id)`,
		"blob references": `SELECT count(*) FROM blobs b WHERE refs != (SELECT count(*) FROM messages WHERE blob = b.id)
			OR (refs = 0) != (freed_at IS NOT NULL)`,
		"blob parts": `SELECT count(*) FROM blobs b WHERE size != (SELECT coalesce(sum(length(data)), 0)
			FROM blob_parts WHERE blob = b.id)`,
		"message sizes": `SELECT count(*) FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.size != b.size`,
		"text index mark": `SELECT count(*) FROM messages m JOIN search_clean c ON c.mailbox = m.mailbox
			WHERE m.uid < c.uid AND NOT EXISTS (SELECT 1 FROM search_text s WHERE s.blob = m.blob)`,
	}
	for what, q := range checks {
		if bad := queryInt(t, c, q); bad != 0 {
			t.Errorf("%s: %d rows disagree with the content", what, bad)
		}
	}
}
