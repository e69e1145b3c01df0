package directorytest

import (
	"errors"
	"slices"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func testAccountDefaults(f *fixture) {
	t := f.t
	f.domain("a.example", 0, 5<<20)
	f.domain("free.example", 0, 0)
	a := f.account("Alice@a.example")
	if a.ID <= 0 || a.Address.Local != "Alice" || a.Address.Domain != "a.example" {
		t.Errorf("account = %d %+v; want ID > 0, Alice@a.example as created", a.ID, a.Address)
	}
	if a.QuotaBytes != 5<<20 || a.Shard != directory.LocalShard || a.Role != directory.RoleUser ||
		!a.Enabled || a.CreatedAt.IsZero() || len(a.AdminDomains) != 0 {
		t.Errorf("defaults = quota %d shard %q role %q enabled %v created %v admin %v",
			a.QuotaBytes, a.Shard, a.Role, a.Enabled, a.CreatedAt, a.AdminDomains)
	}
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$") || strings.Contains(a.PasswordHash, Password) {
		t.Errorf("PasswordHash = %q, want an argon2id hash", a.PasswordHash)
	}
	if ok, _, err := directory.VerifyPassword(a.PasswordHash, Password); !ok || err != nil {
		t.Errorf("stored hash does not verify the password: %v, %v", ok, err)
	}
	got, err := f.d.Account(f.ctx, mail.MustParse("alice@a.example"))
	if err != nil || got.ID != a.ID || got.Address != a.Address || got.QuotaBytes != a.QuotaBytes ||
		got.PasswordHash != a.PasswordHash || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("Account() = %+v, %v; want %+v", got, err, a)
	}
	b := f.accountWith(directory.NewAccount{Address: mail.MustParse("b@free.example"), QuotaBytes: 123,
		QuotaMessages: 7, Shard: "shard-2"})
	if b.QuotaBytes != 123 || b.QuotaMessages != 7 || b.Shard != "shard-2" {
		t.Errorf("explicit fields = quota %d msgs %d shard %q", b.QuotaBytes, b.QuotaMessages, b.Shard)
	}
	if c := f.account("c@free.example"); c.QuotaBytes != 0 {
		t.Errorf("quota in a domain without maximum = %d, want 0 (unlimited)", c.QuotaBytes)
	}
}

func testAccountErrors(f *fixture) {
	d, ctx := f.d, f.ctx
	f.domain("a.example", 0, 0)
	if err := d.CreateDomain(ctx, directory.Domain{Name: "off.example"}); err != nil {
		f.t.Fatal(err)
	}
	f.account("taken@a.example")
	f.alias("alias@a.example", "taken@a.example")
	create := func(addr mail.Address, mod func(*directory.NewAccount)) error {
		n := directory.NewAccount{Address: addr, Password: Password}
		if mod != nil {
			mod(&n)
		}
		_, err := d.CreateAccount(ctx, n)
		return err
	}
	cases := []struct {
		what string
		addr mail.Address
		mod  func(*directory.NewAccount)
		want error
	}{
		{"unknown domain", mail.MustParse("u@nope.example"), nil, directory.ErrNotFound},
		{"disabled domain", mail.MustParse("u@off.example"), nil, directory.ErrDisabled},
		{"taken, other case", mail.MustParse("TAKEN@A.example"), nil, directory.ErrExists},
		{"taken by alias", mail.MustParse("Alias@a.example"), nil, directory.ErrExists},
		{"zero address", mail.Address{}, nil, directory.ErrInvalid},
		{"hand-built %-hack", mail.Address{Local: "u%x", Domain: "a.example"}, nil, directory.ErrInvalid},
		{"hand-built bad domain", mail.Address{Local: "u", Domain: "a..example"}, nil, directory.ErrInvalid},
		{"empty password", mail.MustParse("p1@a.example"), func(n *directory.NewAccount) { n.Password = "" }, directory.ErrInvalid},
		{"long password", mail.MustParse("p2@a.example"), func(n *directory.NewAccount) { n.Password = strings.Repeat("x", 1025) }, directory.ErrInvalid},
		{"bad role", mail.MustParse("r@a.example"), func(n *directory.NewAccount) { n.Role = "root" }, directory.ErrInvalid},
		{"admin domains for user", mail.MustParse("r@a.example"), func(n *directory.NewAccount) { n.AdminDomains = []string{"a.example"} }, directory.ErrInvalid},
		{"unknown admin domain", mail.MustParse("r@a.example"), func(n *directory.NewAccount) {
			n.Role, n.AdminDomains = directory.RoleDomainAdmin, []string{"nope.example"}
		}, directory.ErrInvalid},
		{"negative quota", mail.MustParse("q@a.example"), func(n *directory.NewAccount) { n.QuotaBytes = -1 }, directory.ErrInvalid},
	}
	for _, c := range cases {
		f.wantErr("CreateAccount("+c.what+")", create(c.addr, c.mod), c.want)
	}
	if all, err := d.Accounts(ctx, ""); err != nil || len(all) != 1 {
		f.t.Errorf("Accounts after refused creations = %d, %v; want 1", len(all), err)
	}
}

// Lookups fold case in the local part (ASCII and UTF-8) and the domain; the address keeps
// the spelling it was created with.
func testAccountCaseAndUTF8(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("example.test", 0, 0)
	alice := f.account("Alice@EXAMPLE.test")
	if alice.Address.String() != "Alice@example.test" {
		t.Errorf("address = %s, want Alice@example.test", alice.Address)
	}
	elodie := f.account("élodie@example.test")
	for addr, id := range map[string]int64{
		"alice@example.test": alice.ID, "ALICE@Example.Test": alice.ID, `"Alice"@example.test`: alice.ID,
		"ÉLODIE@example.test": elodie.ID, "Élodie@EXAMPLE.TEST": elodie.ID,
	} {
		got, err := d.Account(ctx, mail.MustParse(addr))
		if err != nil || got.ID != id {
			t.Errorf("Account(%s) = %d, %v; want %d", addr, got.ID, err, id)
		}
	}
	for _, addr := range []string{"alice@example.test", "ÉLODIE@example.test"} {
		_, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(addr), Password: Password})
		f.wantErr("CreateAccount("+addr+")", err, directory.ErrExists)
	}
	_, err := d.Account(ctx, mail.MustParse("alice@other.test"))
	f.wantErr("Account(other domain)", err, directory.ErrNotFound)
	_, err = d.Account(ctx, mail.MustParse("alice2@example.test"))
	f.wantErr("Account(unknown)", err, directory.ErrNotFound)
	f.wantResolve("ALICE@example.TEST", "acct:alice@example.test")
	f.wantResolve("Élodie@example.test", "acct:élodie@example.test")
}

func testAccountByIDCrossTenant(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	a := f.account("u@a.example")
	b := f.account("u@b.example")
	if got, err := d.AccountByID(ctx, "a.example", a.ID); err != nil || got.Address != a.Address {
		t.Errorf("AccountByID(own) = %+v, %v", got.Address, err)
	}
	if got, err := d.AccountByID(ctx, "B.Example", b.ID); err != nil || got.Address != b.Address {
		t.Errorf("AccountByID(own, other case) = %+v, %v", got.Address, err)
	}
	for _, c := range []struct {
		domain string
		id     int64
	}{{"b.example", a.ID}, {"a.example", b.ID}, {"a.example", b.ID + a.ID + 1000}, {"nope.example", a.ID}, {"", a.ID}} {
		got, err := d.AccountByID(ctx, c.domain, c.id)
		if !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("AccountByID(%q, %d) = %+v, %v; want ErrNotFound", c.domain, c.id, got.Address, err)
		}
	}
}

func testAccountsList(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("b.example", 0, 0)
	f.domain("a.example", 0, 0)
	f.account("zed@a.example")
	f.account("Amy@a.example")
	f.accountWith(directory.NewAccount{Address: mail.MustParse("boss@b.example"), Role: directory.RoleDomainAdmin,
		AdminDomains: []string{"a.example", "b.example"}})
	keys := func(as []directory.Account) (out []string) {
		for _, a := range as {
			out = append(out, a.Address.Key())
		}
		return out
	}
	got, err := d.Accounts(ctx, "a.example")
	if err != nil || !slices.Equal(keys(got), []string{"amy@a.example", "zed@a.example"}) {
		t.Errorf("Accounts(a.example) = %v, %v", keys(got), err)
	}
	got, err = d.Accounts(ctx, "")
	if err != nil || !slices.Equal(keys(got), []string{"amy@a.example", "zed@a.example", "boss@b.example"}) {
		t.Errorf("Accounts(all) = %v, %v; want ordered by domain then address", keys(got), err)
	}
	if len(got) == 3 && !slices.Equal(got[2].AdminDomains, []string{"a.example", "b.example"}) {
		t.Errorf("listed domain admin AdminDomains = %v", got[2].AdminDomains)
	}
	_, err = d.Accounts(ctx, "nope.example")
	f.wantErr("Accounts(unknown domain)", err, directory.ErrNotFound)
}

func testAccountRoles(f *fixture) {
	t := f.t
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	f.domain("bücher.example", 0, 0)
	da := f.accountWith(directory.NewAccount{Address: mail.MustParse("da@a.example"), Role: directory.RoleDomainAdmin,
		AdminDomains: []string{"bücher.example", "B.example", "b.example"}})
	if da.Role != directory.RoleDomainAdmin || !slices.Equal(da.AdminDomains, []string{"b.example", "xn--bcher-kva.example"}) {
		t.Errorf("domain admin = %q %v; want sorted ASCII [b.example xn--bcher-kva.example]", da.Role, da.AdminDomains)
	}
	own := f.accountWith(directory.NewAccount{Address: mail.MustParse("own@a.example"), Role: directory.RoleDomainAdmin})
	if !slices.Equal(own.AdminDomains, []string{"a.example"}) {
		t.Errorf("domain admin without list administers %v, want its own [a.example]", own.AdminDomains)
	}
	sa := f.accountWith(directory.NewAccount{Address: mail.MustParse("root@a.example"), Role: directory.RoleSystemAdmin})
	if sa.Role != directory.RoleSystemAdmin || len(sa.AdminDomains) != 0 {
		t.Errorf("system admin = %q %v", sa.Role, sa.AdminDomains)
	}
	got, err := f.d.Account(f.ctx, da.Address)
	if err != nil || !slices.Equal(got.AdminDomains, da.AdminDomains) {
		t.Errorf("Account(domain admin).AdminDomains = %v, %v", got.AdminDomains, err)
	}
}

func testUpdateAccount(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 1000)
	f.domain("b.example", 0, 0)
	a := f.account("u@a.example")
	addr := mail.MustParse("U@A.example")

	got, err := d.UpdateAccount(ctx, addr, directory.AccountUpdate{Password: ptr("new password 2"),
		QuotaBytes: ptr(int64(500)), QuotaMessages: ptr(int64(9)), Shard: ptr("s2")})
	if err != nil || got.ID != a.ID || got.QuotaBytes != 500 || got.QuotaMessages != 9 || got.Shard != "s2" ||
		got.PasswordHash == a.PasswordHash || !got.Enabled || got.Role != directory.RoleUser {
		t.Fatalf("UpdateAccount = %+v, %v", got, err)
	}
	_, err = d.Authenticate(ctx, "u@a.example", Password)
	f.wantErr("Authenticate(old password)", err, directory.ErrAuthFailed)
	_, err = d.Authenticate(ctx, "u@a.example", "new password 2")
	f.wantErr("Authenticate(new password)", err, nil)

	// Nil fields are left alone; quota 0 means the domain's maximum.
	got, err = d.UpdateAccount(ctx, addr, directory.AccountUpdate{QuotaBytes: ptr(int64(0))})
	if err != nil || got.QuotaBytes != 1000 || got.QuotaMessages != 9 || got.Shard != "s2" {
		t.Errorf("UpdateAccount(quota 0) = %+v, %v; want quota 1000, rest unchanged", got, err)
	}
	got, err = d.UpdateAccount(ctx, addr, directory.AccountUpdate{Role: ptr(directory.RoleDomainAdmin),
		AdminDomains: ptr([]string{"B.EXAMPLE"})})
	if err != nil || got.Role != directory.RoleDomainAdmin || !slices.Equal(got.AdminDomains, []string{"b.example"}) {
		t.Errorf("UpdateAccount(domain admin) = %q %v, %v", got.Role, got.AdminDomains, err)
	}
	got, err = d.UpdateAccount(ctx, addr, directory.AccountUpdate{Role: ptr(directory.RoleUser)})
	if err != nil || got.Role != directory.RoleUser || len(got.AdminDomains) != 0 {
		t.Errorf("UpdateAccount(back to user) = %q %v, %v; want no admin domains", got.Role, got.AdminDomains, err)
	}
	got, err = d.UpdateAccount(ctx, addr, directory.AccountUpdate{Enabled: ptr(false)})
	if err != nil || got.Enabled {
		t.Errorf("UpdateAccount(disable) = %v, %v", got.Enabled, err)
	}
	if again, err := d.Account(ctx, addr); err != nil || again.Enabled || again.QuotaBytes != 1000 {
		t.Errorf("Account after updates = %+v, %v", again, err)
	}
	_, err = d.UpdateAccount(ctx, mail.MustParse("nobody@a.example"), directory.AccountUpdate{Enabled: ptr(true)})
	f.wantErr("UpdateAccount(unknown)", err, directory.ErrNotFound)
}

// A refused update changes nothing, not even the fields that were valid.
func testUpdateAccountAtomic(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 1000)
	a := f.account("u@a.example")
	bad := []struct {
		what string
		u    directory.AccountUpdate
		want error
	}{
		{"quota over domain max", directory.AccountUpdate{Password: ptr("changed pw"), QuotaBytes: ptr(int64(1001))}, directory.ErrLimit},
		{"bad role", directory.AccountUpdate{Enabled: ptr(false), Role: ptr(directory.Role("boss"))}, directory.ErrInvalid},
		{"unknown admin domain", directory.AccountUpdate{Shard: ptr("s9"), Role: ptr(directory.RoleDomainAdmin),
			AdminDomains: ptr([]string{"nope.example"})}, directory.ErrInvalid},
		{"admin domains for user", directory.AccountUpdate{Enabled: ptr(false), AdminDomains: ptr([]string{"a.example"})}, directory.ErrInvalid},
		{"empty password", directory.AccountUpdate{Enabled: ptr(false), Password: ptr("")}, directory.ErrInvalid},
		{"negative quota", directory.AccountUpdate{Enabled: ptr(false), QuotaMessages: ptr(int64(-1))}, directory.ErrInvalid},
		{"empty shard", directory.AccountUpdate{Enabled: ptr(false), Shard: ptr("")}, directory.ErrInvalid},
	}
	for _, c := range bad {
		_, err := d.UpdateAccount(ctx, a.Address, c.u)
		f.wantErr("UpdateAccount("+c.what+")", err, c.want)
	}
	got, err := d.Account(ctx, a.Address)
	if err != nil || got.PasswordHash != a.PasswordHash || !got.Enabled || got.Shard != a.Shard ||
		got.QuotaBytes != a.QuotaBytes || got.QuotaMessages != a.QuotaMessages || got.Role != a.Role {
		t.Errorf("account changed by refused updates: %+v, %v; was %+v", got, err, a)
	}
}

func testDeleteAccount(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 0)
	f.domain("b.example", 0, 0)
	u := f.account("u@a.example")
	f.account("v@a.example")
	f.alias("only@a.example", "U@a.example")
	f.alias("sub@a.example", "u+lists@a.example")
	f.alias("both@a.example", "u@a.example", "v@a.example")
	f.alias("ext@b.example", "u@a.example", "x@remote.example")

	if err := d.DeleteAccount(ctx, mail.MustParse("U@A.EXAMPLE")); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	_, err := d.Account(ctx, u.Address)
	f.wantErr("Account(deleted)", err, directory.ErrNotFound)
	_, err = d.AccountByID(ctx, "a.example", u.ID)
	f.wantErr("AccountByID(deleted)", err, directory.ErrNotFound)
	f.wantErr("DeleteAccount(again)", d.DeleteAccount(ctx, u.Address), directory.ErrNotFound)
	want := []string{
		"both@a.example[a.example]->v@a.example",
		"ext@b.example[b.example]->x@remote.example",
	}
	if got := f.aliasesOf(""); !slices.Equal(got, want) {
		t.Errorf("aliases after DeleteAccount = %v, want %v", got, want)
	}
	f.wantResolve("both@a.example", "acct:v@a.example")
	f.wantResolveErr("only@a.example", directory.ErrNotFound)
	// A new account with the same address is a new mailbox: new ID, no inherited aliases.
	again := f.account("u@a.example")
	if again.ID == u.ID {
		t.Errorf("re-created account reuses ID %d", u.ID)
	}
	f.wantResolveErr("only@a.example", directory.ErrNotFound)
	f.wantResolve("ext@b.example", "remote:x@remote.example")
}
