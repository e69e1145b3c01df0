package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"mailgrid/internal/testkit/pgtest"
)

// TestBodyCompressionUpgrade: a shard made at schema version 8 (bodies compressed with
// pglz) opens with this code; a body stored before reads back whole, and bodies stored
// after are compressed with lz4 when the server has it (schema version 9), pglz when not.
func TestBodyCompressionUpgrade(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	c := sqlConn(t, dsn)
	applyMigrations(t, c.Exec, 8)

	body := func(tag string) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "Subject: %s\r\n\r\n", tag)
		for b.Len() < 4096 {
			b.WriteString(strings.Repeat(tag, 10) + "\r\n")
		}
		return b.Bytes()
	}
	old := body("stored-at-version-8")
	sum := sha256.Sum256(old)
	var blob int64
	if err := c.QueryRow(ctx, `INSERT INTO blobs (sha256, size, refs, freed_at) VALUES ($1, $2, 0, now()) RETURNING id`,
		sum[:], len(old)).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `INSERT INTO blob_parts (blob, part, data) VALUES ($1, 0, $2)`, blob, old); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, dsn, Options{})
	ensure(t, s, acctA)
	was := deliver(t, s, old, acctA)[0] // the same content: the stored blob is taken
	fresh := body("stored-at-version-9")
	now := deliver(t, s, fresh, acctA)[0]
	if got := readAll(t, s, acctA, was.MessageID); !bytes.Equal(got, old) {
		t.Fatalf("body stored at version 8 reads back %d bytes, want %d", len(got), len(old))
	}
	if got := readAll(t, s, acctA, now.MessageID); !bytes.Equal(got, fresh) {
		t.Fatalf("body stored at version 9 reads back %d bytes, want %d", len(got), len(fresh))
	}
	method := func(id int64) string {
		var m string
		if err := c.QueryRow(ctx, `SELECT coalesce(pg_column_compression(p.data), 'none') FROM messages m
			JOIN blob_parts p ON p.blob = m.blob WHERE m.id = $1`, id).Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	want := "pglz"
	if lz4Supported(t, dsn) {
		want = "lz4"
	}
	if m := method(was.MessageID); m != "pglz" {
		t.Errorf("part stored at version 8 compressed with %s, want pglz", m)
	}
	if m := method(now.MessageID); m != want {
		t.Errorf("part stored at version 9 compressed with %s, want %s", m, want)
	}
	checkInvariants(t, dsn)
}

// applyMigrations brings an empty database's store schema to version n, as a program
// with n migrations would.
func applyMigrations(t *testing.T, exec func(context.Context, string, ...any) (pgconn.CommandTag, error), n int) {
	t.Helper()
	ctx := t.Context()
	stmts := []string{`CREATE SCHEMA ` + DefaultSchema,
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`}
	stmts = append(stmts, migrations[:n]...)
	for _, q := range stmts {
		if _, err := exec(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	for v := 1; v <= n; v++ {
		if _, err := exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
			t.Fatal(err)
		}
	}
}

// lz4Supported reports whether the server can compress with lz4.
func lz4Supported(t *testing.T, dsn string) bool {
	c := sqlConn(t, dsn)
	_, err := c.Exec(t.Context(), `CREATE TEMP TABLE lz4_probe (d text COMPRESSION lz4)`)
	return err == nil
}
