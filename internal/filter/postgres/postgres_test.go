package postgres_test

import (
	"errors"
	"sync"
	"testing"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/postgres"
	"mailgrid/internal/filter/statetest"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

func TestConformance(t *testing.T) {
	var dbs pgkittest.PerTest
	statetest.Run(t, func(t *testing.T) statetest.State {
		s, err := postgres.Open(t.Context(), dbs.DSN(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func openDB(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	d, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// TestConcurrentOpen: nodes starting together on one database apply the schema once
// (under the advisory lock) and all open it; the version is recorded once.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	dbs := make([]*postgres.DB, 6)
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(t.Context(), dsn, postgres.Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
			continue
		}
		if err := dbs[i].Close(); err != nil {
			t.Error(err)
		}
	}
	var n, v int
	pgkittest.QueryRow(t, dsn, `SELECT count(*), max(version) FROM filter.schema_migrations`, &n, &v)
	if n != postgres.SchemaVersion || v != postgres.SchemaVersion {
		t.Fatalf("schema_migrations: %d rows, version %d", n, v)
	}
}

// TestNewerSchemaRefused: a database migrated by a newer mailgrid is not opened.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	if err := openDB(t, dsn).Close(); err != nil {
		t.Fatal(err)
	}
	pgkittest.Exec(t, dsn, `INSERT INTO filter.schema_migrations (version, applied_at) VALUES (99, now())`)
	if d, err := postgres.Open(t.Context(), dsn, postgres.Options{}); err == nil {
		_ = d.Close()
		t.Fatal("opened a schema of version 99")
	}
}

// TestSharesDatabaseWithOthers: the state lives in its own schema; a table of the same
// name in public (another driver's) is untouched.
func TestSharesDatabaseWithOthers(t *testing.T) {
	dsn := pgtest.DSN(t)
	pgkittest.Exec(t, dsn, `CREATE TABLE public.quarantine (x int); INSERT INTO public.quarantine VALUES (42)`)
	d := openDB(t, dsn)
	if _, err := d.Hold(t.Context(), []filter.Held{{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"),
		Reason: "r", Mailet: "m"}}, body.Bytes("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	var x int
	pgkittest.QueryRow(t, dsn, `SELECT x FROM public.quarantine`, &x)
	if x != 42 {
		t.Fatalf("public.quarantine changed: %d", x)
	}
}

// TestHoldRacesDelete: one node holds copies of a message while another deletes and
// expires copies of the same body; no held copy ever loses its body, and no body is
// left behind without copies.
func TestHoldRacesDelete(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openDB(t, dsn), openDB(t, dsn)
	ctx := t.Context()
	msg := body.Bytes(statetest.QuarantineMessage)
	entry := []filter.Held{{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"), Reason: "r", Mailet: "m"}}
	var wg sync.WaitGroup
	ids := make(chan int64, 64)
	wg.Go(func() {
		defer close(ids)
		for range 40 {
			h, err := a.Hold(ctx, entry, msg)
			if err != nil {
				t.Error(err)
				return
			}
			ids <- h[0].ID
		}
	})
	wg.Go(func() {
		for id := range ids {
			if err := b.Delete(ctx, "one.test", id); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	// What is left is consistent: every copy reads its body; bodies without copies are gone.
	h, err := a.Hold(ctx, entry, msg)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.Open(ctx, "one.test", h[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ReadAt(make([]byte, 10), rc.Size()-10); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, "one.test", h[0].ID); err != nil {
		t.Fatal(err)
	}
	var bodies, chunks int
	pgkittest.QueryRow(t, dsn, `SELECT (SELECT count(*) FROM filter.held_bodies), (SELECT count(*) FROM filter.held_chunks)`, &bodies, &chunks)
	if bodies != 0 || chunks != 0 {
		t.Fatalf("%d bodies, %d chunks left without copies", bodies, chunks)
	}
	if _, err := b.Open(ctx, "one.test", h[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("open deleted: %v", err)
	}
}

// TestTokensForgottenAndConcurrent: two nodes train the same tokens at once and every
// count adds up; untraining to zero deletes the rows.
func TestTokensForgottenAndConcurrent(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openDB(t, dsn), openDB(t, dsn)
	acct := store.AccountRef{Domain: "one.test", ID: 1}
	toks := []string{"alpha", "beta", "gamma", "delta", "alpha"}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			d := a
			if i%2 == 1 {
				d = b
			}
			if err := d.Tokens(acct).Add(t.Context(), toks, 1, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := b.Tokens(acct).Get(t.Context(), []string{"alpha", "beta"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Spam != 40 || got[1].Spam != 20 {
		t.Fatalf("counts after 20 concurrent messages: %+v", got)
	}
	for range 20 {
		if err := a.Tokens(acct).Add(t.Context(), toks, -1, 0); err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	pgkittest.QueryRow(t, dsn, `SELECT count(*) FROM filter.bayes_tokens`, &rows)
	if tot, _ := a.Tokens(acct).Totals(t.Context()); rows != 0 || tot.Spam != 0 {
		t.Fatalf("after untraining: %d token rows, totals %+v", rows, tot)
	}
}
