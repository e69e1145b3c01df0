package fetchtest

import (
	"errors"
	"testing"

	"mailgrid/internal/fetch"
	"mailgrid/internal/store"
)

// testDeleteOwner: DeleteOwner removes every external account of one owner with its
// UIDLs, a leased one included (never due again; the holder's Finish records nothing);
// the other owner and the other tenant's owner of the same ID keep theirs. DeleteDomain
// then removes the rest of the domain.
func testDeleteOwner(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	ids := map[store.AccountRef][]int64{}
	for _, o := range []store.AccountRef{ann, ann, bob, other} {
		id, err := s.Add(ctx, Account(o))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Remember(ctx, id, "u1"); err != nil {
			t.Fatal(err)
		}
		ids[o] = append(ids[o], id)
	}
	leased := ids[ann][0]
	if ok, err := s.Claim(ctx, leased, "n1", t0, t0.Add(fetch.LeaseTime)); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}

	if n, err := s.DeleteOwner(ctx, ann); err != nil || n != 2 {
		t.Fatalf("DeleteOwner: %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteOwner(ctx, ann); err != nil || n != 0 {
		t.Fatalf("DeleteOwner again: %d, %v", n, err)
	}
	if _, err := s.DeleteOwner(ctx, store.AccountRef{Domain: ann.Domain}); !errors.Is(err, fetch.ErrInvalid) {
		t.Fatalf("DeleteOwner without an account: %v, want ErrInvalid", err)
	}
	if err := s.Finish(ctx, leased, "n1", t0, 1, ""); err != nil {
		t.Fatalf("the holder's Finish of a deleted account: %v", err)
	}
	for _, id := range ids[ann] {
		if m, err := s.Seen(ctx, id); err != nil || len(m) != 0 {
			t.Errorf("UIDLs of deleted account %d: %v %v", id, m, err)
		}
	}
	count := func(o store.AccountRef) int {
		t.Helper()
		as, err := s.List(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}
	if count(ann) != 0 || count(bob) != 1 || count(other) != 1 {
		t.Fatalf("after DeleteOwner: ann %d, bob %d, other %d", count(ann), count(bob), count(other))
	}
	due, err := s.Due(ctx, t0.Add(fetch.LeaseTime*2), 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due after DeleteOwner: %+v %v; want bob's and other's", due, err)
	}

	if n, err := s.DeleteDomain(ctx, ann.Domain); err != nil || n != 1 {
		t.Fatalf("DeleteDomain: %d, %v; want bob's", n, err)
	}
	if _, err := s.DeleteDomain(ctx, ""); !errors.Is(err, fetch.ErrInvalid) {
		t.Fatalf("DeleteDomain(\"\"): %v, want ErrInvalid", err)
	}
	if count(bob) != 0 || count(other) != 1 {
		t.Fatalf("after DeleteDomain: bob %d, other %d", count(bob), count(other))
	}
	if m, err := s.Seen(ctx, ids[other][0]); err != nil || len(m) != 1 {
		t.Fatalf("the other tenant's UIDLs: %v %v", m, err)
	}
}
