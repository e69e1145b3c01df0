package admin_test

import (
	"context"
	"errors"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// TestDeleteAccountRunsPurgers: deleting an account (through the scoped view the API and
// console use) runs every AccountPurger with the account's ref once its directory row is
// gone; a failing purger does not stop the others and its error is reported.
func TestDeleteAccountRunsPurgers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var got []store.AccountRef
	broken := errors.New("state store down")
	purger := func(fail bool) func(context.Context, store.AccountRef) error {
		return func(ctx context.Context, acct store.AccountRef) error {
			if _, err := f.env.Dir.AccountByID(ctx, acct.Domain, acct.ID); !errors.Is(err, directory.ErrNotFound) {
				t.Errorf("purger ran while the directory still has the account: %v", err)
			}
			got = append(got, acct)
			if fail {
				return broken
			}
			return nil
		}
	}
	f.svc.AccountPurgers = []func(context.Context, store.AccountRef) error{purger(false), purger(true), purger(false)}
	sys := f.svc.As(f.sys)
	want := admin.Ref(f.userA)
	if err := sys.DeleteAccount(ctx, "a.example", f.userA.ID); !errors.Is(err, broken) {
		t.Fatalf("delete with a failing purger: %v, want its error", err)
	}
	if len(got) != 3 || got[0] != want || got[1] != want || got[2] != want {
		t.Fatalf("purgers saw %+v, want %+v three times", got, want)
	}
	got = nil
	f.svc.AccountPurgers = f.svc.AccountPurgers[:1]
	if err := sys.DeleteAccount(ctx, "a.example", f.userA2.ID); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != admin.Ref(f.userA2) {
		t.Fatalf("purger saw %+v", got)
	}
}
