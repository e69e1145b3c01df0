package fetch_test

import (
	"errors"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/fetch"
)

// TestFetchOwnerDeleted: once the local account is deleted, the schedule's next run
// removes its external accounts and their UIDLs without connecting to the remote (whose
// mail stays), and another owner's accounts stay.
func TestFetchOwnerDeleted(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 2)
	a := w.add(t, true, fetch.TLSStartTLS, remotePass)
	b := w.add(t, false, fetch.TLSStartTLS, remotePass)
	if res, err := w.fetch(t, a); err != nil || res.Fetched != 2 {
		t.Fatalf("first run: %+v %v", res, err)
	}
	if seen, err := w.fs.Seen(t.Context(), a.ID); err != nil || len(seen) != 2 {
		t.Fatalf("seen: %v %v", seen, err)
	}
	// Another owner's account stays.
	other := w.Account(t, "other@local.test", "other-password-1", 0)
	c := a
	c.ID, c.Owner = 0, deliverytest.Ref(other)
	var err error
	if c.ID, err = w.fs.Add(t.Context(), c); err != nil {
		t.Fatal(err)
	}

	if err := w.Dir.DeleteAccount(t.Context(), w.local.Address); err != nil {
		t.Fatal(err)
	}
	if _, err := w.fetch(t, b); !errors.Is(err, fetch.ErrOwnerGone) {
		t.Fatalf("run for a deleted owner: %v", err)
	}
	if list, err := w.fs.List(t.Context(), a.Owner); err != nil || len(list) != 0 {
		t.Fatalf("the deleted owner's accounts: %v %v", list, err)
	}
	if seen, err := w.fs.Seen(t.Context(), a.ID); err != nil || len(seen) != 0 {
		t.Fatalf("UIDLs kept: %v %v", seen, err)
	}
	if _, err := w.fs.Get(t.Context(), c.Owner, c.ID); err != nil {
		t.Fatalf("the other owner's account: %v", err)
	}
	// Nothing was deleted on the remote (b is in delete mode but never connected).
	if n := len(w.Messages(t, w.remote, "INBOX")); n != 2 {
		t.Fatalf("remote holds %d", n)
	}
}

// TestFetchOwnerDeletedSchedule: the schedule finds the owner gone and removes its
// accounts.
func TestFetchOwnerDeletedSchedule(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 1)
	w.add(t, false, fetch.TLSStartTLS, remotePass)
	w.add(t, true, fetch.TLSStartTLS, remotePass)
	if err := w.Dir.DeleteAccount(t.Context(), w.local.Address); err != nil {
		t.Fatal(err)
	}
	w.f.RunDue(t.Context())
	if list, err := w.fs.List(t.Context(), deliverytest.Ref(w.local)); err != nil || len(list) != 0 {
		t.Fatalf("after the schedule: %v %v", list, err)
	}
	if n := len(w.Messages(t, w.remote, "INBOX")); n != 1 {
		t.Fatalf("remote holds %d", n)
	}
}
