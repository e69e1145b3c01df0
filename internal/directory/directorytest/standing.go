package directorytest

import (
	"mailgrid/internal/directory"
)

// testAccountStanding: directory.AccountStanding over the driver — OK, moved (another
// shard; "" ignores the shard), disabled (the account, then its domain), deleted.
func testAccountStanding(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 0)
	u := f.account("u@a.example")
	want := func(what, shard string, w directory.Standing) {
		t.Helper()
		got, err := directory.AccountStanding(ctx, d, "a.example", u.ID, shard)
		if err != nil || got != w {
			t.Errorf("%s: standing %d, %v; want %d", what, got, err, w)
		}
	}
	want("fresh", u.Shard, directory.StandingOK)
	want("any shard", "", directory.StandingOK)
	want("other shard", u.Shard+"-elsewhere", directory.StandingMoved)

	off, on := false, true
	if _, err := d.UpdateAccount(ctx, u.Address, directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	want("account disabled", u.Shard, directory.StandingDisabled)
	if _, err := d.UpdateAccount(ctx, u.Address, directory.AccountUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	dom, err := d.Domain(ctx, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	dom.Enabled = false
	if err := d.UpdateDomain(ctx, dom); err != nil {
		t.Fatal(err)
	}
	want("domain disabled", "", directory.StandingDisabled)
	dom.Enabled = true
	if err := d.UpdateDomain(ctx, dom); err != nil {
		t.Fatal(err)
	}
	want("enabled again", u.Shard, directory.StandingOK)
	if err := d.DeleteAccount(ctx, u.Address); err != nil {
		t.Fatal(err)
	}
	want("deleted", u.Shard, directory.StandingDeleted)
	if _, err := directory.AccountStanding(ctx, d, "b.example", u.ID, ""); err != nil {
		t.Errorf("unknown domain: %v", err)
	}
}
