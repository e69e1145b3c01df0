package statetest

import (
	"context"
	"testing"

	"mailgrid/internal/filter"
)

// Per-domain switches: off by default (both filters on), set and changed per domain,
// seen by a second handle, other domains untouched.
func testDomainSwitches(t *testing.T, open Opener) {
	ctx := context.Background()
	a, b := openState(t, open), openState(t, open)
	if s, err := a.DomainSwitches(ctx, "one.test"); err != nil || s != (filter.Switches{}) {
		t.Fatalf("never set: %+v %v", s, err)
	}
	if err := a.SetDomainSwitches(ctx, "one.test", filter.Switches{NoAntispam: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetDomainSwitches(ctx, "one.test", filter.Switches{NoAntivirus: true}); err != nil {
		t.Fatal(err)
	}
	if s, err := b.DomainSwitches(ctx, "one.test"); err != nil || s != (filter.Switches{NoAntivirus: true}) {
		t.Fatalf("after a change, other handle: %+v %v", s, err)
	}
	if s, err := b.DomainSwitches(ctx, "two.test"); err != nil || s != (filter.Switches{}) {
		t.Fatalf("another domain: %+v %v", s, err)
	}
}
