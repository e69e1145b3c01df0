// Package fetchtest is the conformance suite every fetch.Store driver runs: the same
// behaviour from the embedded (sqlite) and the cluster (postgres) driver.
package fetchtest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"mailgrid/internal/fetch"
	"mailgrid/internal/store"
)

// Open returns a store; called twice within one test it must return stores over the same
// data. The suite closes what it opens.
type Open func(t *testing.T) fetch.Store

var (
	ann   = store.AccountRef{Domain: "example.org", ID: 1}
	bob   = store.AccountRef{Domain: "example.org", ID: 2}
	other = store.AccountRef{Domain: "example.net", ID: 1}
	t0    = time.UnixMilli(1_800_000_000_000)
)

// Account is a valid account of owner for tests.
func Account(owner store.AccountRef) fetch.Account {
	return fetch.Account{Owner: owner, Host: "pop.remote.test", Port: 995, TLS: fetch.TLSImplicit, User: "ann", Secret: []byte("sealed"), Folder: "Fetched", Interval: 5 * time.Minute}
}

// Run runs the suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"CRUD", testCRUD},
		{"Invalid", testInvalid},
		{"Isolation", testIsolation},
		{"Lease", testLease},
		{"UIDLs", testUIDLs},
		{"DeleteOwner", testDeleteOwner},
		{"KeyReopen", testKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func opened(t *testing.T, open Open) fetch.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func testCRUD(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	a := Account(ann)
	a.Host, a.Port = " POP.Remote.Test. ", 0
	id, err := s.Add(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, ann, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.Owner != ann || got.Host != "pop.remote.test" || got.Port != 995 || got.TLS != fetch.TLSImplicit ||
		got.User != "ann" || !bytes.Equal(got.Secret, []byte("sealed")) || got.Folder != "Fetched" || got.Keep || got.Interval != 5*time.Minute ||
		!got.LastRun.IsZero() || got.LastError != "" {
		t.Fatalf("Get %+v", got)
	}
	got.Keep, got.Folder, got.Secret, got.TLS, got.Port = true, "INBOX", nil, fetch.TLSStartTLS, 110
	if err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, ann)
	if err != nil || len(list) != 1 {
		t.Fatalf("List %+v %v", list, err)
	}
	if u := list[0]; !u.Keep || u.Folder != "INBOX" || u.TLS != fetch.TLSStartTLS || u.Port != 110 || !bytes.Equal(u.Secret, []byte("sealed")) {
		t.Fatalf("after Update (nil secret keeps it): %+v", u)
	}
	if err := s.Delete(ctx, ann, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ann, id); !errors.Is(err, fetch.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := s.Delete(ctx, ann, id); !errors.Is(err, fetch.ErrNotFound) {
		t.Fatalf("Delete twice: %v", err)
	}
	if err := s.Update(ctx, got); !errors.Is(err, fetch.ErrNotFound) {
		t.Fatalf("Update deleted: %v", err)
	}
}

func testInvalid(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	mods := []func(*fetch.Account){
		func(a *fetch.Account) { a.Host = "bad host" },
		func(a *fetch.Account) { a.Port = 70000 },
		func(a *fetch.Account) { a.TLS = fetch.TLSNone }, // not loopback
		func(a *fetch.Account) { a.User = "ann\r\nDELE 1" },
		func(a *fetch.Account) { a.Secret = nil },
		func(a *fetch.Account) { a.Interval = time.Second },
		func(a *fetch.Account) { a.Owner = store.AccountRef{} },
	}
	for i, m := range mods {
		a := Account(ann)
		m(&a)
		if _, err := s.Add(ctx, a); !errors.Is(err, fetch.ErrInvalid) {
			t.Errorf("case %d: Add %+v: %v", i, a, err)
		}
	}
	a := Account(ann)
	a.Host, a.TLS = "127.0.0.1", fetch.TLSNone
	id, err := s.Add(ctx, a)
	if err != nil {
		t.Fatalf("no TLS to loopback: %v", err)
	}
	a.ID, a.Host = id, "pop.remote.test"
	if err := s.Update(ctx, a); !errors.Is(err, fetch.ErrInvalid) {
		t.Errorf("Update to no TLS off loopback: %v", err)
	}
	for i := 1; i < fetch.MaxAccounts; i++ {
		if _, err := s.Add(ctx, Account(ann)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Add(ctx, Account(ann)); !errors.Is(err, fetch.ErrInvalid) {
		t.Errorf("account %d: %v", fetch.MaxAccounts+1, err)
	}
	if list, err := s.List(ctx, ann); err != nil || len(list) != fetch.MaxAccounts || list[0].Host != "127.0.0.1" {
		t.Fatalf("after refusals: %d %v", len(list), err)
	}
}

func testIsolation(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	ids := map[store.AccountRef]int64{}
	for _, o := range []store.AccountRef{ann, bob, other} {
		a := Account(o)
		a.User = fmt.Sprintf("%s-%d", o.Domain, o.ID)
		id, err := s.Add(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		ids[o] = id
	}
	for o, id := range ids {
		list, err := s.List(ctx, o)
		if err != nil || len(list) != 1 || list[0].ID != id {
			t.Errorf("%+v lists %+v %v", o, list, err)
		}
		for o2 := range ids {
			if o2 == o {
				continue
			}
			if _, err := s.Get(ctx, o2, id); !errors.Is(err, fetch.ErrNotFound) {
				t.Errorf("%+v reads %+v's account: %v", o2, o, err)
			}
			a := Account(o2)
			a.ID = id
			if err := s.Update(ctx, a); !errors.Is(err, fetch.ErrNotFound) {
				t.Errorf("%+v updates %+v's account: %v", o2, o, err)
			}
			if err := s.Delete(ctx, o2, id); !errors.Is(err, fetch.ErrNotFound) {
				t.Errorf("%+v deletes %+v's account: %v", o2, o, err)
			}
		}
	}
}

func testLease(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	id, err := s.Add(ctx, Account(ann))
	if err != nil {
		t.Fatal(err)
	}
	due := func(now time.Time) int {
		t.Helper()
		as, err := s.Due(ctx, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}
	if due(t0) != 1 {
		t.Fatal("a new account is not due at once")
	}
	if ok, err := s.Claim(ctx, id, "n1", t0, t0.Add(fetch.LeaseTime)); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := s.Claim(ctx, id, "n2", t0.Add(time.Minute), t0.Add(fetch.LeaseTime)); err != nil || ok {
		t.Fatalf("second claim while held: %v %v", ok, err)
	}
	if due(t0.Add(time.Minute)) != 0 {
		t.Error("a leased account is due")
	}
	// The holder crashed: the lease expires.
	later := t0.Add(fetch.LeaseTime + time.Second)
	if ok, err := s.Claim(ctx, id, "n2", later, later.Add(fetch.LeaseTime)); err != nil || !ok {
		t.Fatalf("claim after expiry: %v %v", ok, err)
	}
	// n1's late Finish changes nothing: the lease is n2's.
	if err := s.Finish(ctx, id, "n1", later, 7, "late"); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Get(ctx, ann, id); a.LastCount == 7 {
		t.Error("a stale holder's Finish was recorded")
	}
	if err := s.Finish(ctx, id, "n2", later, 3, "remote down"); err != nil {
		t.Fatal(err)
	}
	a, err := s.Get(ctx, ann, id)
	if err != nil || !a.LastRun.Equal(later) || a.LastCount != 3 || a.LastError != "remote down" || !a.NextRun.Equal(later.Add(5*time.Minute)) {
		t.Fatalf("after Finish: %+v %v", a, err)
	}
	if due(later.Add(time.Minute)) != 0 || due(later.Add(5*time.Minute)) != 1 {
		t.Error("not due exactly one interval after the run")
	}
	if ok, err := s.Claim(ctx, id, "n3", later.Add(time.Second), later.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("Finish did not free the lease: %v %v", ok, err)
	}
}

func testUIDLs(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	id, err := s.Add(ctx, Account(ann))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.Add(ctx, Account(ann))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"a", "b", "c", "a"} {
		if err := s.Remember(ctx, id, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Remember(ctx, id2, "z"); err != nil {
		t.Fatal(err)
	}
	seen := func(id int64) string {
		t.Helper()
		m, err := s.Seen(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for _, u := range []string{"a", "b", "c", "z"} {
			if m[u] {
				out = append(out, u...)
			}
		}
		if len(out) != len(m) {
			t.Fatalf("unexpected UIDLs %v", m)
		}
		return string(out)
	}
	if seen(id) != "abc" || seen(id2) != "z" {
		t.Fatalf("Seen %q %q", seen(id), seen(id2))
	}
	if err := s.Forget(ctx, id, map[string]bool{"b": true, "x": true}); err != nil {
		t.Fatal(err)
	}
	if seen(id) != "b" || seen(id2) != "z" {
		t.Fatalf("after Forget %q %q", seen(id), seen(id2))
	}
	a, _ := s.Get(ctx, ann, id)
	a.Secret, a.Keep = nil, true // same host and user: the UIDLs stay
	if err := s.Update(ctx, a); err != nil || seen(id) != "b" {
		t.Fatalf("an update of the same remote forgot: %q %v", seen(id), err)
	}
	a.User = "someone-else"
	if err := s.Update(ctx, a); err != nil || seen(id) != "" {
		t.Fatalf("a new remote user keeps old UIDLs: %q %v", seen(id), err)
	}
	if err := s.Delete(ctx, ann, id2); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, id2, "late"); err != nil {
		t.Fatalf("Remember for a deleted account: %v", err)
	}
	if m, err := s.Seen(ctx, id2); err != nil || len(m) != 0 {
		t.Fatalf("a deleted account's UIDLs: %v %v", m, err)
	}
}

func testKey(t *testing.T, open Open) {
	s := open(t)
	k1, err := s.Key(t.Context())
	if err != nil || len(k1) != fetch.KeySize {
		t.Fatalf("Key %d %v", len(k1), err)
	}
	k2, err := s.Key(t.Context())
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("a second Key differs: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := opened(t, open)
	k3, err := s2.Key(t.Context())
	if err != nil || !bytes.Equal(k1, k3) {
		t.Fatalf("the key changed on reopen: %v", err)
	}
}
