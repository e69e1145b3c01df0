package directorytest

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// lifecycleDriver is a driver with every domain lifecycle add-on.
type lifecycleDriver interface {
	directory.Directory
	directory.DomainLifecycle
	directory.DomainAliasStore
	directory.DomainAdminStore
}

// RunDomainLifecycle runs the conformance cases of the domain lifecycle add-ons
// (directory.DomainLifecycle, DomainAliasStore, DomainAdminStore): deletion with grace
// and restore leaving the domain as it was, the purge claim (one winner, restore refused
// after it), alias domains in resolution, logins and SendAs, and the transfer of a domain
// between administrators.
func RunDomainLifecycle(t *testing.T, open func(t *testing.T) directory.Directory) {
	cases := []struct {
		name string
		fn   func(f *fixture, d lifecycleDriver)
	}{
		{"DeleteRestore", testDeleteRestore},
		{"PurgeClaim", testPurgeClaim},
		{"AliasDomainResolve", testAliasDomainResolve},
		{"AliasDomainErrors", testAliasDomainErrors},
		{"DomainAdmins", testDomainAdmins},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := open(t)
			ld, ok := d.(lifecycleDriver)
			if !ok {
				t.Fatalf("%T lacks a domain lifecycle add-on", d)
			}
			c.fn(&fixture{t: t, d: d, ctx: t.Context()}, ld)
		})
	}
}

func testDeleteRestore(f *fixture, d lifecycleDriver) {
	f.domain("a.example", 5, 1<<20)
	f.domain("off.example", 0, 0)
	alice := f.account("alice@a.example")
	f.account("bob@off.example")
	f.alias("info@a.example", "alice@a.example")
	f.setDomainEnabled("off.example", false)
	before, err := d.Domain(f.ctx, "a.example")
	if err != nil {
		f.t.Fatal(err)
	}
	offBefore, _ := d.Domain(f.ctx, "off.example")
	purge := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Microsecond)
	f.wantErr("mark deleted", d.MarkDomainDeleted(f.ctx, "a.example", purge), nil)
	f.wantErr("mark deleted (off)", d.MarkDomainDeleted(f.ctx, "off.example", purge), nil)
	f.wantErr("mark deleted twice", d.MarkDomainDeleted(f.ctx, "a.example", purge), directory.ErrDomainDeleted)
	f.wantErr("mark deleted unknown", d.MarkDomainDeleted(f.ctx, "nosuch.example", purge), directory.ErrNotFound)

	got, err := d.Domain(f.ctx, "a.example")
	if err != nil || !got.Deleted() || got.Enabled || !got.PurgeAt.Equal(purge) || got.DeletedAt.After(time.Now()) {
		f.t.Errorf("deleted domain reads %+v, %v", got, err)
	}
	// Nothing of the domain works, and its mail is refused here (not relayed).
	_, err = d.Authenticate(f.ctx, "alice@a.example", Password)
	f.wantErr("login in a deleted domain", err, directory.ErrDisabled)
	for _, rcpt := range []string{"alice@a.example", "info@a.example", "nobody@a.example"} {
		_, err := d.Resolve(f.ctx, mail.MustParse(rcpt))
		if !errors.Is(err, directory.ErrDomainDeleted) || !errors.Is(err, directory.ErrDisabled) {
			f.t.Errorf("Resolve(%s) in a deleted domain: %v", rcpt, err)
		}
	}
	if local, err := d.IsLocalDomain(f.ctx, "a.example"); err != nil || !local {
		f.t.Errorf("IsLocalDomain(deleted) = %v, %v; want true (refused here, not relayed)", local, err)
	}
	f.wantSendAs(alice, "alice@a.example", false)
	upd := before
	upd.MaxUsers = 99
	f.wantErr("update a deleted domain", d.UpdateDomain(f.ctx, upd), directory.ErrDomainDeleted)
	_, err = d.CreateAccount(f.ctx, directory.NewAccount{Address: mail.MustParse("new@a.example"), Password: Password})
	if err == nil {
		f.t.Error("account created in a deleted domain")
	}
	if name, err := d.ClaimPurge(f.ctx, time.Hour); err != nil || name != "" {
		f.t.Errorf("ClaimPurge before the purge time = %q, %v", name, err)
	}

	// Restore: exactly as before, the disabled one still disabled.
	f.wantErr("restore", d.RestoreDomain(f.ctx, "a.example"), nil)
	f.wantErr("restore (off)", d.RestoreDomain(f.ctx, "off.example"), nil)
	f.wantErr("restore twice", d.RestoreDomain(f.ctx, "a.example"), directory.ErrNotFound)
	f.wantErr("restore unknown", d.RestoreDomain(f.ctx, "nosuch.example"), directory.ErrNotFound)
	for name, want := range map[string]directory.Domain{"a.example": before, "off.example": offBefore} {
		if got, err := d.Domain(f.ctx, name); err != nil || !reflect.DeepEqual(got, want) {
			f.t.Errorf("restored %s:\n got %+v, %v\nwant %+v", name, got, err, want)
		}
	}
	if _, err := d.Authenticate(f.ctx, "alice@a.example", Password); err != nil {
		f.t.Errorf("login after restore: %v", err)
	}
	f.wantResolve("info@a.example", "acct:alice@a.example")
	f.wantSendAs(alice, "alice@a.example", true)
}

func testPurgeClaim(f *fixture, d lifecycleDriver) {
	f.domain("due.example", 0, 0)
	f.account("u@due.example")
	f.domain("later.example", 0, 0)
	f.wantErr("mark due", d.MarkDomainDeleted(f.ctx, "due.example", time.Now().Add(-time.Minute)), nil)
	f.wantErr("mark later", d.MarkDomainDeleted(f.ctx, "later.example", time.Now().Add(time.Hour)), nil)
	f.wantErr("restore after the purge time", d.RestoreDomain(f.ctx, "due.example"), directory.ErrGraceOver)

	// Several claimers at once: exactly one gets the due domain, none the later one.
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			name, err := d.ClaimPurge(f.ctx, time.Hour)
			if err != nil {
				f.t.Errorf("ClaimPurge: %v", err)
			}
			mu.Lock()
			got = append(got, name)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(got)
	if want := []string{"", "", "", "", "", "due.example"}; !slices.Equal(got, want) {
		f.t.Errorf("concurrent claims = %q, want %q", got, want)
	}
	// A lease that has run out (the claimer died) is claimed again.
	f.domain("dead.example", 0, 0)
	f.wantErr("mark dead", d.MarkDomainDeleted(f.ctx, "dead.example", time.Now().Add(-time.Minute)), nil)
	if name, err := d.ClaimPurge(f.ctx, -time.Second); err != nil || name != "dead.example" {
		f.t.Errorf("claim = %q, %v", name, err)
	}
	if name, err := d.ClaimPurge(f.ctx, time.Hour); err != nil || name != "dead.example" {
		f.t.Errorf("claim after the lease ran out = %q, %v", name, err)
	}
	f.wantErr("restore a claimed domain", d.RestoreDomain(f.ctx, "dead.example"), directory.ErrGraceOver)
	// The purge's last step.
	f.wantErr("delete the purged domain", d.DeleteDomain(f.ctx, "due.example", true), nil)
	if _, err := d.Domain(f.ctx, "due.example"); !errors.Is(err, directory.ErrNotFound) {
		f.t.Errorf("purged domain: %v", err)
	}
}

func testAliasDomainResolve(f *fixture, d lifecycleDriver) {
	f.domain("a.example", 0, 0)
	f.domain("elsewhere.example", 0, 0)
	x := f.account("x@a.example")
	f.account("y@a.example")
	f.alias("team@a.example", "x@a.example", "y@a.example")
	f.alias("@a.example", "y@a.example")
	f.alias("fwd@elsewhere.example", "x@bücher.example") // a target in the alias domain
	f.wantErr("alias domain", d.CreateDomainAlias(f.ctx, directory.DomainAlias{Name: "Bücher.example", Target: "A.EXAMPLE"}), nil)

	f.wantResolve("x@xn--bcher-kva.example", "acct:x@a.example")
	f.wantResolve("X+news@bücher.example", "acct:x@a.example+news")
	f.wantResolve("team@bücher.example", "acct:x@a.example", "acct:y@a.example")
	f.wantResolve("nobody@bücher.example", "acct:y@a.example") // the target's catch-all
	f.wantResolve("fwd@elsewhere.example", "acct:x@a.example")
	if local, err := d.IsLocalDomain(f.ctx, "bücher.example"); err != nil || !local {
		f.t.Errorf("IsLocalDomain(alias) = %v, %v", local, err)
	}
	if dom, err := d.Domain(f.ctx, "xn--bcher-kva.example"); err != nil || dom.Name != "a.example" {
		f.t.Errorf("Domain(alias) = %+v, %v; want the target's record", dom, err)
	}
	// Logins by the canonical address only; sending as the alias-domain address is allowed.
	_, err := d.Authenticate(f.ctx, "x@bücher.example", Password)
	f.wantErr("login by an alias-domain address", err, directory.ErrAuthFailed)
	f.wantSendAs(x, "x@bücher.example", true)
	f.wantSendAs(x, "y@bücher.example", false)

	as, err := d.DomainAliases(f.ctx, "a.example")
	if err != nil || len(as) != 1 || as[0].Name != "xn--bcher-kva.example" || as[0].Target != "a.example" || as[0].CreatedAt.IsZero() {
		f.t.Errorf("DomainAliases = %+v, %v", as, err)
	}
	if as, err := d.DomainAliases(f.ctx, "elsewhere.example"); err != nil || len(as) != 0 {
		f.t.Errorf("DomainAliases(other) = %+v, %v", as, err)
	}
	// The target deleted: the alias refuses mail the same way; restored, it works again.
	f.wantErr("mark deleted", d.MarkDomainDeleted(f.ctx, "a.example", time.Now().Add(time.Hour)), nil)
	if _, err := d.Resolve(f.ctx, mail.MustParse("x@bücher.example")); !errors.Is(err, directory.ErrDomainDeleted) {
		f.t.Errorf("Resolve via the alias of a deleted domain: %v", err)
	}
	f.wantErr("alias of a deleted domain", d.CreateDomainAlias(f.ctx, directory.DomainAlias{Name: "b.example", Target: "a.example"}),
		directory.ErrDomainDeleted)
	f.wantErr("restore", d.RestoreDomain(f.ctx, "a.example"), nil)
	f.wantResolve("x@bücher.example", "acct:x@a.example")

	f.wantErr("delete alias domain", d.DeleteDomainAlias(f.ctx, "bücher.example"), nil)
	f.wantErr("delete alias domain twice", d.DeleteDomainAlias(f.ctx, "bücher.example"), directory.ErrNotFound)
	if local, err := d.IsLocalDomain(f.ctx, "bücher.example"); err != nil || local {
		f.t.Errorf("IsLocalDomain(removed alias) = %v, %v", local, err)
	}
	// Alias domains go with their target.
	f.wantErr("alias domain again", d.CreateDomainAlias(f.ctx, directory.DomainAlias{Name: "c.example", Target: "a.example"}), nil)
	f.wantErr("delete target", d.DeleteDomain(f.ctx, "a.example", true), nil)
	if as, err := d.DomainAliases(f.ctx, ""); err != nil || len(as) != 0 {
		f.t.Errorf("alias domains after their target's deletion: %+v, %v", as, err)
	}
}

func testAliasDomainErrors(f *fixture, d lifecycleDriver) {
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	f.wantErr("create", d.CreateDomainAlias(f.ctx, directory.DomainAlias{Name: "alias.example", Target: "a.example"}), nil)
	for _, tc := range []struct {
		what         string
		name, target string
		want         error
	}{
		{"name is a domain", "b.example", "a.example", directory.ErrExists},
		{"name taken", "alias.example", "b.example", directory.ErrExists},
		{"alias of an alias", "x.example", "alias.example", directory.ErrNotFound},
		{"unknown target", "x.example", "nosuch.example", directory.ErrNotFound},
		{"itself", "a.example", "a.example", directory.ErrInvalid},
		{"bad name", "not a domain", "a.example", directory.ErrInvalid},
	} {
		f.wantErr(tc.what, d.CreateDomainAlias(f.ctx, directory.DomainAlias{Name: tc.name, Target: tc.target}), tc.want)
	}
	f.wantErr("domain named like an alias", d.CreateDomain(f.ctx, directory.Domain{Name: "alias.example", Enabled: true}),
		directory.ErrExists)
	if as, err := d.DomainAliases(f.ctx, ""); err != nil || len(as) != 1 {
		f.t.Errorf("refused aliases stored something: %+v, %v", as, err)
	}
}

func testDomainAdmins(f *fixture, d lifecycleDriver) {
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	both := f.accountWith(directory.NewAccount{Address: mail.MustParse("both@b.example"), Role: directory.RoleDomainAdmin,
		AdminDomains: []string{"a.example", "b.example"}})
	only := f.accountWith(directory.NewAccount{Address: mail.MustParse("only@a.example"), Role: directory.RoleDomainAdmin})
	user := f.account("user@b.example")
	f.accountWith(directory.NewAccount{Address: mail.MustParse("root@b.example"), Role: directory.RoleSystemAdmin})
	admins := func(domain string) []string {
		f.t.Helper()
		as, err := d.DomainAdmins(f.ctx, domain)
		if err != nil {
			f.t.Fatalf("DomainAdmins(%s): %v", domain, err)
		}
		out := []string{}
		for _, a := range as {
			out = append(out, a.Address.Key())
		}
		return out
	}
	if got := admins("a.example"); !slices.Equal(got, []string{"both@b.example", "only@a.example"}) {
		f.t.Errorf("admins of a = %v", got)
	}
	// Refusals change nothing.
	f.wantErr("a system admin", d.SetDomainAdmins(f.ctx, "a.example", []mail.Address{mail.MustParse("root@b.example")}), directory.ErrInvalid)
	f.wantErr("unknown account", d.SetDomainAdmins(f.ctx, "a.example", []mail.Address{user.Address, mail.MustParse("nobody@b.example")}),
		directory.ErrNotFound)
	f.wantErr("unknown domain", d.SetDomainAdmins(f.ctx, "nosuch.example", nil), directory.ErrNotFound)
	if got := admins("a.example"); !slices.Equal(got, []string{"both@b.example", "only@a.example"}) {
		f.t.Errorf("admins of a after refusals = %v", got)
	}
	// Transfer a.example to the user: both keeps b.example, only becomes a user.
	f.wantErr("transfer", d.SetDomainAdmins(f.ctx, "a.example", []mail.Address{mail.MustParse("USER@b.example")}), nil)
	if got := admins("a.example"); !slices.Equal(got, []string{"user@b.example"}) {
		f.t.Errorf("admins of a after the transfer = %v", got)
	}
	for _, tc := range []struct {
		addr mail.Address
		role directory.Role
		doms []string
	}{
		{both.Address, directory.RoleDomainAdmin, []string{"b.example"}},
		{only.Address, directory.RoleUser, nil},
		{user.Address, directory.RoleDomainAdmin, []string{"a.example"}},
	} {
		a, err := d.Account(f.ctx, tc.addr)
		if err != nil || a.Role != tc.role || !slices.Equal(a.AdminDomains, tc.doms) {
			f.t.Errorf("%s after the transfer: %s %v, %v; want %s %v", tc.addr, a.Role, a.AdminDomains, err, tc.role, tc.doms)
		}
	}
	// Several admins, then none.
	f.wantErr("two admins", d.SetDomainAdmins(f.ctx, "b.example", []mail.Address{both.Address, user.Address}), nil)
	if got := admins("b.example"); !slices.Equal(got, []string{"both@b.example", "user@b.example"}) {
		f.t.Errorf("admins of b = %v", got)
	}
	f.wantErr("no admins", d.SetDomainAdmins(f.ctx, "b.example", nil), nil)
	if got := admins("b.example"); len(got) != 0 {
		f.t.Errorf("admins of b after clearing = %v", got)
	}
	if a, err := d.Account(f.ctx, both.Address); err != nil || a.Role != directory.RoleUser || len(a.AdminDomains) != 0 {
		f.t.Errorf("both after losing its last domain: %+v, %v", a, err)
	}
	f.wantErr("mark deleted", d.MarkDomainDeleted(f.ctx, "b.example", time.Now().Add(time.Hour)), nil)
	f.wantErr("transfer a deleted domain", d.SetDomainAdmins(f.ctx, "b.example", []mail.Address{user.Address}), directory.ErrDomainDeleted)
}
