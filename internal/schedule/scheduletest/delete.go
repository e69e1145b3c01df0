package scheduletest

import (
	"errors"
	"testing"
	"time"

	"mailgrid/internal/schedule"
)

// testDeleteOwner: DeleteOwner removes every item of one account, pending, failed and
// leased alike, so none is leased again and a lease held on one is lost; the other
// account and the other tenant's account of the same ID keep theirs. DeleteDomain then
// removes the rest of the domain and leaves the other tenant's.
func testDeleteOwner(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	add(t, s, item(ann, t0.Add(time.Hour), "ann later"))
	failed := add(t, s, item(ann, t0, "ann failed"))
	l := lease(t, s, t0, 1)
	if len(l) != 1 || l[0].ID != failed {
		t.Fatalf("lease: %q", subjects(l))
	}
	if err := s.Fail(ctx, failed, l[0].Token, "refused"); err != nil {
		t.Fatal(err)
	}
	add(t, s, item(ann, t0.Add(time.Minute), "ann sending"))
	l = lease(t, s, t0.Add(time.Minute), 1)
	if len(l) != 1 || l[0].Subject != "ann sending" {
		t.Fatalf("lease: %q", subjects(l))
	}
	add(t, s, item(bob, t0.Add(time.Hour), "bob's"))
	add(t, s, item(other, t0.Add(time.Hour), "other's"))

	n, err := s.DeleteOwner(ctx, ann)
	if err != nil || n != 3 {
		t.Fatalf("DeleteOwner: %d, %v; want 3 items", n, err)
	}
	if n, err := s.DeleteOwner(ctx, ann); err != nil || n != 0 {
		t.Fatalf("DeleteOwner again: %d, %v", n, err)
	}
	if _, err := s.DeleteOwner(ctx, schedule.Owner{Domain: ann.Domain}); err == nil {
		t.Fatal("DeleteOwner without an account: no error")
	}
	if err := s.Done(ctx, l[0].ID, l[0].Token); !errors.Is(err, schedule.ErrLeaseLost) {
		t.Fatalf("Done of a deleted owner's leased item: %v, want ErrLeaseLost", err)
	}
	items, err := s.List(ctx, ann)
	if err != nil || len(items) != 0 {
		t.Fatalf("ann's items after DeleteOwner: %q %v", subjects(items), err)
	}
	same(t, "leased after DeleteOwner", subjects(lease(t, s, t0.Add(3*time.Hour), 10)), []string{"bob's", "other's"})

	if n, err := s.DeleteDomain(ctx, ann.Domain); err != nil || n != 1 {
		t.Fatalf("DeleteDomain: %d, %v; want bob's item", n, err)
	}
	if _, err := s.DeleteDomain(ctx, ""); err == nil {
		t.Fatal("DeleteDomain(\"\"): no error")
	}
	for o, want := range map[schedule.Owner]int{bob: 0, other: 1} {
		if items, err := s.List(ctx, o); err != nil || len(items) != want {
			t.Errorf("%+v after DeleteDomain: %q %v", o, subjects(items), err)
		}
	}
}
