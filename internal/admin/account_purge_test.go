package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// TestDeleteAccountRunsPurgers: deleting an account (through the scoped view the API and
// console use) runs every AccountPurger with the account's ref once its directory row is
// gone; a failing purger does not stop the others, its error is reported, and the
// deletion (which happened) is audited with it.
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
	// Both deletions are in the audit log: the first with the purger's failure.
	es, err := sys.Audit(ctx, directory.AuditQuery{Action: "account.delete"})
	if err != nil || len(es) != 2 {
		t.Fatalf("audit: %+v, %v; want two entries", es, err)
	}
	byTarget := map[string]string{}
	for _, e := range es {
		byTarget[e.Target] = e.Detail
	}
	if d, ok := byTarget[f.userA.Address.String()]; !ok || !strings.Contains(d, "incomplete") || !strings.Contains(d, broken.Error()) {
		t.Errorf("audit of the incomplete deletion: %q (found %v)", d, ok)
	}
	if d, ok := byTarget[f.userA2.Address.String()]; !ok || d != "" {
		t.Errorf("audit of the complete deletion: %q (found %v)", d, ok)
	}
}

// TestDeleteDomainNowRunsPurgers: the immediate domain deletion (no grace) refuses a
// domain with accounts without force and then purges nothing; with force it runs the
// AccountPurgers for each account and the DomainPurgers once, before the directory rows.
func TestDeleteDomainNowRunsPurgers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var accts []store.AccountRef
	var domains []string
	f.svc.AccountPurgers = []func(context.Context, store.AccountRef) error{func(_ context.Context, a store.AccountRef) error {
		accts = append(accts, a)
		return nil
	}}
	f.svc.DomainPurgers = []func(context.Context, string) error{func(ctx context.Context, d string) error {
		if _, err := f.env.Dir.Domain(ctx, d); err != nil {
			t.Errorf("domain purger ran after the domain's row went: %v", err)
		}
		domains = append(domains, d)
		return nil
	}}
	if err := f.svc.DeleteDomain(ctx, "b.example", false); !errors.Is(err, directory.ErrDomainNotEmpty) {
		t.Fatalf("delete a domain with accounts without force: %v", err)
	}
	if len(accts)+len(domains) != 0 {
		t.Fatalf("a refused deletion purged %v %v", accts, domains)
	}
	if err := f.svc.DeleteDomain(ctx, "b.example", true); err != nil {
		t.Fatal(err)
	}
	if len(accts) != 1 || accts[0] != admin.Ref(f.userB) || len(domains) != 1 || domains[0] != "b.example" {
		t.Fatalf("purgers saw accounts %+v, domains %v", accts, domains)
	}
	if _, err := f.env.Dir.Domain(ctx, "b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("the deleted domain: %v", err)
	}
}
