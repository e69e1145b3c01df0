package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// LockPairFunc opens two stores over the same fresh storage, as two nodes of a cluster open
// one shard. It should register t.Cleanup to close both; Close must tolerate a second
// call.
type LockPairFunc func(t *testing.T) (store.Store, store.Store)

// RunLocker checks store.MaildropLocker for a driver that implements it: one holder per
// (account, name) across every store over the same storage (two TryLocks on one store
// as well), other accounts and names independent, release hands the lock on, a closed
// store's locks are free. It fails when the stores do not implement MaildropLocker.
func RunLocker(t *testing.T, open LockPairFunc) {
	t.Run("Exclusive", func(t *testing.T) { testLockExclusive(t, open) })
	t.Run("Invalid", func(t *testing.T) { testLockInvalid(t, open) })
	t.Run("CloseFrees", func(t *testing.T) { testLockCloseFrees(t, open) })
}

func lockers(t *testing.T, open LockPairFunc) (store.MaildropLocker, store.MaildropLocker, store.Store) {
	t.Helper()
	a, b := open(t)
	la, ok1 := a.(store.MaildropLocker)
	lb, ok2 := b.(store.MaildropLocker)
	if !ok1 || !ok2 {
		t.Fatalf("%T does not implement store.MaildropLocker", a)
	}
	return la, lb, b
}

func lockCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustLock(t *testing.T, l store.MaildropLocker, acct store.AccountRef, name string) func() {
	t.Helper()
	release, err := l.TryLock(lockCtx(t), acct, name)
	if err != nil {
		t.Fatalf("TryLock(%v, %q): %v", acct, name, err)
	}
	return release
}

func mustBeLocked(t *testing.T, l store.MaildropLocker, acct store.AccountRef, name, who string) {
	t.Helper()
	release, err := l.TryLock(lockCtx(t), acct, name)
	if !errors.Is(err, store.ErrLocked) {
		if err == nil {
			release()
		}
		t.Fatalf("TryLock(%v, %q) on %s: %v, want ErrLocked", acct, name, who, err)
	}
}

func testLockExclusive(t *testing.T, open LockPairFunc) {
	a, b, _ := lockers(t, open)
	acct := store.AccountRef{Domain: "a.test", ID: 1}
	other := store.AccountRef{Domain: "a.test", ID: 2}
	otherDomain := store.AccountRef{Domain: "b.test", ID: 1}

	release := mustLock(t, a, acct, "pop3")
	mustBeLocked(t, a, acct, "pop3", "the same store")
	mustBeLocked(t, b, acct, "pop3", "the other store")
	for _, r := range []func(){ // independent keys
		mustLock(t, b, other, "pop3"), mustLock(t, b, otherDomain, "pop3"), mustLock(t, b, acct, "other"),
	} {
		r()
	}

	release()
	release() // a second call is harmless
	releaseB := mustLock(t, b, acct, "pop3")
	mustBeLocked(t, a, acct, "pop3", "the first store after handing over")
	releaseB()
	mustLock(t, a, acct, "pop3")()
}

func testLockInvalid(t *testing.T, open LockPairFunc) {
	a, _, _ := lockers(t, open)
	for _, c := range []struct {
		acct store.AccountRef
		name string
	}{
		{store.AccountRef{Domain: "", ID: 1}, "pop3"},
		{store.AccountRef{Domain: "a.test", ID: 0}, "pop3"},
		{store.AccountRef{Domain: "a.test", ID: 1}, ""},
	} {
		if release, err := a.TryLock(lockCtx(t), c.acct, c.name); !errors.Is(err, store.ErrInvalid) {
			if err == nil {
				release()
			}
			t.Errorf("TryLock(%v, %q): %v, want ErrInvalid", c.acct, c.name, err)
		}
	}
}

func testLockCloseFrees(t *testing.T, open LockPairFunc) {
	a, b, closeB := lockers(t, open)
	acct := store.AccountRef{Domain: "a.test", ID: 1}
	releaseB := mustLock(t, b, acct, "pop3")
	mustBeLocked(t, a, acct, "pop3", "the first store")
	if err := closeB.Close(); err != nil {
		t.Fatal(err)
	}
	releaseB() // after Close: harmless
	mustLock(t, a, acct, "pop3")()
}
