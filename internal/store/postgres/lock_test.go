package postgres

import (
	"errors"
	"testing"

	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
	"mailgrid/internal/testkit/pgtest"
)

func TestLockConformance(t *testing.T) {
	storetest.RunLocker(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := pgtest.DSN(t)
		return openAt(t, dsn, Options{}), openAt(t, dsn, Options{})
	})
}

// TestLockSchemas: two shards sharing a database (one schema each) have distinct locks.
func TestLockSchemas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openAt(t, dsn, Options{Schema: "shard_a"}), openAt(t, dsn, Options{Schema: "shard_b"})
	acct := store.AccountRef{Domain: "a.test", ID: 1}
	ra, err := a.TryLock(t.Context(), acct, "pop3")
	if err != nil {
		t.Fatal(err)
	}
	defer ra()
	rb, err := b.TryLock(t.Context(), acct, "pop3")
	if err != nil {
		t.Fatalf("TryLock in another schema: %v", err)
	}
	rb()
}

// TestLockConnectionDies kills the lock connection of the holding store: PostgreSQL
// frees the lock and the other node takes it; once the other node releases, the first
// store's next lock call reconnects and takes back what its holder still holds.
func TestLockConnectionDies(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := openAt(t, dsn, Options{}), openAt(t, dsn, Options{})
	acct, other := store.AccountRef{Domain: "a.test", ID: 1}, store.AccountRef{Domain: "a.test", ID: 2}
	releaseA, err := a.TryLock(t.Context(), acct, "pop3")
	if err != nil {
		t.Fatal(err)
	}
	var killed int
	// Only this test's database: other tests' nodes hold lock connections of their own.
	pgkittest.QueryRow(t, dsn, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = '`+lockAppName+`'
		AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')`,
		&killed)
	if killed != 1 {
		t.Fatalf("terminated %d lock connections, want 1", killed)
	}
	// The lock is free in the database; b takes it (bounded retries: the termination
	// completes asynchronously).
	var releaseB func()
	for i := 0; i < 500 && releaseB == nil; i++ {
		releaseB, err = b.TryLock(t.Context(), acct, "pop3")
		if err != nil && !errors.Is(err, store.ErrLocked) {
			t.Fatal(err)
		}
	}
	if releaseB == nil {
		t.Fatal("the lock of a dead connection was never freed")
	}
	// a still refuses a second local holder, and serves other keys on a new connection.
	if _, err := a.TryLock(t.Context(), acct, "pop3"); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("local second holder: %v, want ErrLocked", err)
	}
	r, err := a.TryLock(t.Context(), other, "pop3")
	if err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
	r()
	releaseB()
	releaseA()
	r, err = b.TryLock(t.Context(), acct, "pop3")
	if err != nil {
		t.Fatalf("after both released: %v", err)
	}
	r()
}

// BenchmarkTryLockRelease measures one POP3 login's lock and its release: two round
// trips on the store's lock connection.
func BenchmarkTryLockRelease(b *testing.B) {
	s := openAt(b, pgtest.DSN(b), Options{})
	acct := store.AccountRef{Domain: "a.test", ID: 1}
	for b.Loop() {
		release, err := s.TryLock(b.Context(), acct, "pop3")
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}
