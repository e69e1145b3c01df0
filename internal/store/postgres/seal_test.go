package postgres

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

// TestSealWaiters holds a fence while a delivery and a flag change wait on it, seals,
// then ends the fence without Drop (a moving process killed after switching placement):
// both writers find the account gone (nothing committed, no usage change); other accounts
// are untouched; Unseal lets writes through again; Drop and DeleteAccount clear the seal.
func TestSealWaiters(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ctx := t.Context()
	ensure(t, s, acctA, acctB)
	first := deliver(t, s, []byte("Subject: one\r\n\r\nbefore the fence\r\n"), acctA)
	inbox := first[0].Mailbox
	f, err := s.Fence(ctx, acctA)
	if err != nil {
		t.Fatal(err)
	}
	delivered := make(chan error, 1)
	go func() {
		res, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader([]byte("Subject: two\r\n\r\nwaited\r\n")),
			Targets: []store.DeliveryTarget{{Account: acctA}}})
		if err == nil {
			err = res[0].Err
		}
		delivered <- err
	}()
	flagged := make(chan error, 1)
	go func() {
		_, err := s.StoreFlags(ctx, acctA, inbox, store.FlagUpdate{UIDs: []store.UID{1}, Op: store.FlagsAdd, Flags: []string{`\Flagged`}})
		flagged <- err
	}()
	waitWaiters(t, dsn, 2)
	if err := f.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Release(); err != nil { // as the database does when the fence's process dies
		t.Fatal(err)
	}
	for what, c := range map[string]chan error{"delivery": delivered, "flag change": flagged} {
		select {
		case err := <-c:
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s after the seal: %v, want ErrNotFound", what, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s never returned", what)
		}
	}
	if u, err := s.Usage(ctx, acctA); err != nil || u.Messages != 1 {
		t.Errorf("sealed account's usage %+v %v, want the one message of before", u, err)
	}
	if _, err := s.CreateMailbox(ctx, acctA, "New", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateMailbox on a sealed account: %v", err)
	}
	deliver(t, s, []byte("Subject: b\r\n\r\nanother account\r\n"), acctB)
	if err := s.Unseal(ctx, acctA); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, []byte("Subject: three\r\n\r\nafter the unseal\r\n"), acctA)

	f, err = s.Fence(ctx, acctA)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Seal(ctx), f.Drop(ctx), f.Purge(ctx)); err != nil {
		t.Fatal(err)
	}
	c := sqlConn(t, dsn)
	if n := queryInt(t, c, `SELECT count(*) FROM meta WHERE key LIKE 'sealed %'`); n != 0 {
		t.Errorf("%d seals left after Drop", n)
	}
	ensure(t, s, acctA) // the account can come back (a later move back to this shard)
	deliver(t, s, []byte("Subject: four\r\n\r\nback again\r\n"), acctA)
	f, err = s.Fence(ctx, acctA)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Seal(ctx), f.Release(), s.DeleteAccount(ctx, acctA)); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, c, `SELECT count(*) FROM meta WHERE key LIKE 'sealed %'`); n != 0 {
		t.Errorf("%d seals left after DeleteAccount", n)
	}
	if _, err := s.Usage(ctx, acctA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAccount of a sealed account left it: %v", err)
	}
	checkInvariants(t, dsn)
}

// waitWaiters waits until n sessions of the database wait for a lock.
func waitWaiters(t *testing.T, dsn string, n int) {
	t.Helper()
	c := sqlConn(t, dsn)
	for range 3000 {
		if queryInt(t, c, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`) >= int64(n) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fewer than %d sessions ever waited on the fence", n)
}
