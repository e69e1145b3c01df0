package directorytest

import (
	"slices"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func testDomainCRUD(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	in := directory.Domain{Name: "b.example", Enabled: true, MaxMessageBytes: 10 << 20, MaxQuotaBytes: 1 << 30, MaxUsers: 50, MaxAttachmentBytes: 5 << 20}
	if err := d.CreateDomain(ctx, in); err != nil {
		t.Fatalf("CreateDomain: %v", err)
	}
	f.domain("a.example", 0, 0)
	f.wantErr("CreateDomain(duplicate)", d.CreateDomain(ctx, directory.Domain{Name: "B.Example", Enabled: true}), directory.ErrExists)
	f.wantErr("CreateDomain(duplicate, trailing dot)", d.CreateDomain(ctx, directory.Domain{Name: "b.example."}), directory.ErrExists)

	got, err := d.Domain(ctx, "b.example")
	if err != nil {
		t.Fatalf("Domain: %v", err)
	}
	if got.Name != in.Name || !got.Enabled || got.MaxMessageBytes != in.MaxMessageBytes ||
		got.MaxQuotaBytes != in.MaxQuotaBytes || got.MaxUsers != in.MaxUsers || got.CreatedAt.IsZero() ||
		got.MaxAttachmentBytes != in.MaxAttachmentBytes {
		t.Errorf("Domain = %+v, want %+v with CreatedAt set", got, in)
	}
	if _, err := d.Domain(ctx, "B.EXAMPLE"); err != nil {
		t.Errorf("Domain(upper case): %v", err)
	}
	_, err = d.Domain(ctx, "nope.example")
	f.wantErr("Domain(unknown)", err, directory.ErrNotFound)

	all, err := d.Domains(ctx)
	if err != nil {
		t.Fatalf("Domains: %v", err)
	}
	var names []string
	for _, x := range all {
		names = append(names, x.Name)
	}
	if !slices.Equal(names, []string{"a.example", "b.example"}) {
		t.Errorf("Domains = %v, want [a.example b.example] in order", names)
	}

	upd := directory.Domain{Name: "b.example", Enabled: false, MaxMessageBytes: 1, MaxQuotaBytes: 2, MaxUsers: 3, MaxAttachmentBytes: 4}
	if err := d.UpdateDomain(ctx, upd); err != nil {
		t.Fatalf("UpdateDomain: %v", err)
	}
	got, err = d.Domain(ctx, "b.example")
	if err != nil || got.Enabled || got.MaxMessageBytes != 1 || got.MaxQuotaBytes != 2 || got.MaxUsers != 3 || got.MaxAttachmentBytes != 4 {
		t.Errorf("after UpdateDomain: %+v, %v", got, err)
	}
	f.wantErr("UpdateDomain(unknown)", d.UpdateDomain(ctx, directory.Domain{Name: "nope.example"}), directory.ErrNotFound)
	f.wantErr("UpdateDomain(negative)", d.UpdateDomain(ctx, directory.Domain{Name: "b.example", MaxUsers: -1}), directory.ErrInvalid)
	f.wantErr("UpdateDomain(negative attachment limit)", d.UpdateDomain(ctx, directory.Domain{Name: "b.example", MaxAttachmentBytes: -1}), directory.ErrInvalid)
}

func testDomainInvalid(f *fixture) {
	for _, name := range []string{"", ".", "a..example", "-a.example", "[192.0.2.1]", "exa mple.test", "single", "a_b.example"} {
		f.wantErr("CreateDomain("+name+")", f.d.CreateDomain(f.ctx, directory.Domain{Name: name, Enabled: true}), directory.ErrInvalid)
	}
	f.wantErr("CreateDomain(negative quota)",
		f.d.CreateDomain(f.ctx, directory.Domain{Name: "ok.example", MaxQuotaBytes: -1}), directory.ErrInvalid)
	if ds, err := f.d.Domains(f.ctx); err != nil || len(ds) != 0 {
		f.t.Errorf("Domains after refused creations = %v, %v; want none", ds, err)
	}
}

// "bücher.example" in Unicode, punycode and any case is one domain, stored in ASCII.
func testDomainIDNA(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("Bücher.example", 0, 0)
	const ascii = "xn--bcher-kva.example"
	for _, name := range []string{ascii, "bücher.example", "BÜCHER.EXAMPLE", "XN--BCHER-KVA.example"} {
		got, err := d.Domain(ctx, name)
		if err != nil || got.Name != ascii {
			t.Errorf("Domain(%q) = %q, %v; want %q", name, got.Name, err, ascii)
		}
		if ok, err := d.IsLocalDomain(ctx, name); !ok || err != nil {
			t.Errorf("IsLocalDomain(%q) = %v, %v", name, ok, err)
		}
	}
	f.wantErr("CreateDomain(punycode of existing)", d.CreateDomain(ctx, directory.Domain{Name: ascii}), directory.ErrExists)

	a := f.account("élodie@bücher.example")
	if a.Address.Domain != ascii || a.Address.Local != "élodie" {
		t.Errorf("account address = %+v, want élodie@%s", a.Address, ascii)
	}
	for _, addr := range []string{"élodie@" + ascii, "ÉLODIE@BÜCHER.example", "Élodie@XN--BCHER-KVA.EXAMPLE"} {
		got, err := d.Account(ctx, mail.MustParse(addr))
		if err != nil || got.ID != a.ID {
			t.Errorf("Account(%s) = %d, %v; want %d", addr, got.ID, err, a.ID)
		}
	}
	// Hand-built addresses that skipped mail.Parse are normalised too.
	got, err := d.Account(ctx, mail.Address{Local: "Élodie", Domain: "Bücher.Example"})
	if err != nil || got.ID != a.ID {
		t.Errorf("Account(hand-built Unicode domain) = %d, %v; want %d", got.ID, err, a.ID)
	}
	f.wantResolve("ÉLODIE@bücher.example", "acct:élodie@"+ascii)
	if accts, err := d.Accounts(ctx, "bücher.example"); err != nil || len(accts) != 1 {
		t.Errorf("Accounts(Unicode domain) = %d, %v; want 1", len(accts), err)
	}
}

func testIsLocalDomain(f *fixture) {
	f.domain("on.example", 0, 0)
	if err := f.d.CreateDomain(f.ctx, directory.Domain{Name: "off.example", Enabled: false}); err != nil {
		f.t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"on.example": true, "ON.Example.": true, "off.example": false, "unknown.example": false,
		"not a domain": false, "": false,
	} {
		if got, err := f.d.IsLocalDomain(f.ctx, name); got != want || err != nil {
			f.t.Errorf("IsLocalDomain(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
}

func testDeleteDomain(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("acct.example", 0, 0)
	f.domain("alias.example", 0, 0)
	f.domain("empty.example", 0, 0)
	f.account("u@acct.example")
	f.alias("x@alias.example", "someone@elsewhere.example")

	f.wantErr("DeleteDomain(with account)", d.DeleteDomain(ctx, "acct.example", false), directory.ErrDomainNotEmpty)
	f.wantErr("DeleteDomain(with alias)", d.DeleteDomain(ctx, "alias.example", false), directory.ErrDomainNotEmpty)
	f.wantErr("DeleteDomain(unknown)", d.DeleteDomain(ctx, "nope.example", false), directory.ErrNotFound)
	f.wantErr("DeleteDomain(unknown, force)", d.DeleteDomain(ctx, "nope.example", true), directory.ErrNotFound)
	if _, err := d.Account(ctx, mail.MustParse("u@acct.example")); err != nil {
		t.Errorf("account gone after refused DeleteDomain: %v", err)
	}
	f.wantErr("DeleteDomain(empty)", d.DeleteDomain(ctx, "EMPTY.example", false), nil)
	_, err := d.Domain(ctx, "empty.example")
	f.wantErr("Domain(deleted)", err, directory.ErrNotFound)
	f.wantErr("DeleteDomain(twice)", d.DeleteDomain(ctx, "empty.example", false), directory.ErrNotFound)
}

func testDeleteDomainForce(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("gone.example", 0, 0)
	f.domain("stays.example", 0, 0)
	old := f.account("u@gone.example")
	f.account("v@gone.example")
	keep := f.account("k@stays.example")
	admin := f.accountWith(directory.NewAccount{Address: mail.MustParse("admin@stays.example"),
		Role: directory.RoleDomainAdmin, AdminDomains: []string{"gone.example", "stays.example"}})
	f.alias("list@gone.example", "u@gone.example", "k@stays.example")
	f.alias("team@stays.example", "u@gone.example", "k@stays.example")
	f.alias("solo@stays.example", "v@gone.example")

	if err := d.DeleteDomain(ctx, "gone.example", true); err != nil {
		t.Fatalf("DeleteDomain(force): %v", err)
	}
	_, err := d.Account(ctx, mail.MustParse("u@gone.example"))
	f.wantErr("Account(in deleted domain)", err, directory.ErrNotFound)
	_, err = d.AccountByID(ctx, "gone.example", old.ID)
	f.wantErr("AccountByID(in deleted domain)", err, directory.ErrNotFound)
	if all, err := d.Accounts(ctx, ""); err != nil || len(all) != 2 {
		t.Errorf("Accounts(all) = %d, %v; want the 2 of stays.example", len(all), err)
	}
	// Targets into the deleted domain are gone (they must not become remote forwards),
	// and an alias left without targets is deleted.
	want := []string{"team@stays.example[stays.example]->k@stays.example"}
	if got := f.aliasesOf(""); !slices.Equal(got, want) {
		t.Errorf("Aliases after force delete = %v, want %v", got, want)
	}
	f.wantResolve("team@stays.example", "acct:k@stays.example")
	got, err := d.Account(ctx, admin.Address)
	if err != nil || !slices.Equal(got.AdminDomains, []string{"stays.example"}) {
		t.Errorf("domain admin after delete: %v, %v; want [stays.example]", got.AdminDomains, err)
	}
	// A re-created domain starts empty and never reuses an account ID.
	f.domain("gone.example", 0, 0)
	again := f.account("u@gone.example")
	if again.ID == old.ID || again.ID == keep.ID {
		t.Errorf("re-created account reuses ID %d", again.ID)
	}
	f.wantResolveErr("list@gone.example", directory.ErrNotFound)
}
