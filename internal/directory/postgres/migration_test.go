package postgres

import (
	"context"
	"errors"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/testkit/pgtest"
)

// TestMigrationJournal: start, resume, a conflicting start refused, the shard switch as a
// compare-and-set with the journal's phase, listing, and the per-account lock (held by a
// connection: a second holder is refused, and it frees itself when that connection dies).
func TestMigrationJournal(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	d := open(t, dsn)
	for _, s := range []string{"s1", "s2"} {
		if _, err := d.AddShard(ctx, Shard{Name: s, DSN: "postgres://127.0.0.1/" + s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.CreateDomain(ctx, directory.Domain{Name: "example.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	a, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("u@example.test"), Password: "pw", Shard: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	want := directory.Migration{AccountID: a.ID, Domain: "example.test", Address: "u@example.test",
		Kind: directory.MigrationMove, Source: "s1", Target: "s2", Owner: "one"}
	m, resumed, err := d.StartMigration(ctx, want)
	if err != nil || resumed || m.ID == 0 || m.State != directory.MigrationRunning || m.Phase != directory.PhaseCopy {
		t.Fatalf("start: %+v, %v, %v", m, resumed, err)
	}
	m.State, m.Rounds, m.Messages, m.Error = directory.MigrationFailed, 2, 10, "boom"
	if err := d.SaveMigration(ctx, m); err != nil {
		t.Fatal(err)
	}
	want.Owner = "two"
	again, resumed, err := d.StartMigration(ctx, want)
	if err != nil || !resumed || again.ID != m.ID || again.Rounds != 2 || again.Messages != 10 ||
		again.State != directory.MigrationRunning || again.Owner != "two" {
		t.Fatalf("resume: %+v, %v, %v", again, resumed, err)
	}
	other := want
	other.Target = "s3"
	if _, _, err := d.StartMigration(ctx, other); !errors.Is(err, directory.ErrExists) {
		t.Errorf("another target while unfinished: %v, want ErrExists", err)
	}
	wrong := again
	wrong.Source = "s2"
	if err := d.SwitchShard(ctx, wrong); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("switch from a shard the account is not on: %v, want ErrInvalid", err)
	}
	if err := d.SwitchShard(ctx, again); err != nil {
		t.Fatal(err)
	}
	acct, err := d.AccountByID(ctx, "example.test", a.ID)
	if err != nil || acct.Shard != "s2" {
		t.Fatalf("placement after switch: %q, %v", acct.Shard, err)
	}
	list, err := d.Migrations(ctx, true)
	if err != nil || len(list) != 1 || list[0].Phase != directory.PhaseSwitched {
		t.Fatalf("unfinished: %+v, %v", list, err)
	}
	again.State, again.Phase = directory.MigrationDone, directory.PhaseDone
	if err := d.SaveMigration(ctx, again); err != nil {
		t.Fatal(err)
	}
	if list, err := d.Migrations(ctx, true); err != nil || len(list) != 0 {
		t.Errorf("unfinished after done: %+v, %v", list, err)
	}
	if list, err := d.Migrations(ctx, false); err != nil || len(list) != 1 || list[0].State != directory.MigrationDone {
		t.Errorf("all: %+v, %v", list, err)
	}
	// A new migration of the account may start once the last one is done.
	want.Source, want.Target = "s2", "s1"
	if m2, resumed, err := d.StartMigration(ctx, want); err != nil || resumed || m2.ID == m.ID {
		t.Errorf("second migration: %+v, %v, %v", m2, resumed, err)
	}

	// The lock: one holder; a second directory (another process) is refused.
	d2 := open(t, dsn)
	release, err := d.LockMigration(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.LockMigration(ctx, a.ID); !errors.Is(err, directory.ErrBusy) {
		t.Errorf("second holder: %v, want ErrBusy", err)
	}
	release()
	r2, err := d2.LockMigration(ctx, a.ID)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	// The holder's connection dies (as with kill -9): the lock is free at once.
	// Only this test's database (other tests may hold the same key in theirs), and wait
	// for the backend to be gone (pg_terminate_backend only signals it without a timeout).
	if _, err := d.pool.Exec(ctx, `SELECT pg_terminate_backend(pid, 10000) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1 AND objid = $2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		migrationAccountLock, int32(a.ID)); err != nil {
		t.Fatal(err)
	}
	r2() // returns a dead connection: must not panic
	r3, err := d.LockMigration(context.Background(), a.ID)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	r3()
}
