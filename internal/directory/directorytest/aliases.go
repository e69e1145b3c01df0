package directorytest

import (
	"slices"

	"mailgrid/internal/directory"
)

func testAliasCRUD(f *fixture) {
	t, d, ctx := f.t, f.d, f.ctx
	f.domain("a.example", 0, 0)
	f.domain("bücher.example", 0, 0)
	f.account("bob@a.example")
	// Source in any case and Unicode domain; targets normalised, order kept, duplicates dropped.
	if err := d.CreateAlias(ctx, directory.Alias{Source: "Sales@BÜCHER.example", Domain: "bücher.example",
		Targets: []string{"Bob@A.EXAMPLE", "x@Remote.Example", "bob@a.example", "élodie@bücher.example"}}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	f.alias("@a.example", "bob@a.example")
	f.alias("team@a.example", "bob@a.example")
	got, err := d.Aliases(ctx, "xn--bcher-kva.example")
	if err != nil || len(got) != 1 {
		t.Fatalf("Aliases(bücher) = %+v, %v", got, err)
	}
	al := got[0]
	wantTargets := []string{"Bob@a.example", "x@remote.example", "élodie@xn--bcher-kva.example"}
	if al.Source != "sales@xn--bcher-kva.example" || al.Domain != "xn--bcher-kva.example" || !slices.Equal(al.Targets, wantTargets) {
		t.Errorf("alias = %+v; want source sales@xn--bcher-kva.example, targets %v", al, wantTargets)
	}
	want := []string{"@a.example[a.example]->bob@a.example", "team@a.example[a.example]->bob@a.example"}
	if got := f.aliasesOf("A.Example"); !slices.Equal(got, want) {
		t.Errorf("Aliases(a.example) = %v, want %v", got, want)
	}
	if all := f.aliasesOf(""); len(all) != 3 {
		t.Errorf("Aliases(all) = %v, want 3", all)
	}
	_, err = d.Aliases(ctx, "nope.example")
	f.wantErr("Aliases(unknown domain)", err, directory.ErrNotFound)

	f.wantErr("DeleteAlias(other case)", d.DeleteAlias(ctx, "a.example", "TEAM@a.example"), nil)
	f.wantErr("DeleteAlias(again)", d.DeleteAlias(ctx, "a.example", "team@a.example"), directory.ErrNotFound)
	f.wantErr("DeleteAlias(wrong domain)", d.DeleteAlias(ctx, "a.example", "sales@bücher.example"), directory.ErrNotFound)
	f.wantErr("DeleteAlias(catch-all)", d.DeleteAlias(ctx, "a.example", "@a.example"), nil)
	f.wantErr("DeleteAlias(Unicode)", d.DeleteAlias(ctx, "bücher.example", "sales@bücher.example"), nil)
	if all := f.aliasesOf(""); len(all) != 0 {
		t.Errorf("Aliases after deletes = %v", all)
	}
	// A deleted source can be an account now.
	f.account("team@a.example")
}

func testAliasErrors(f *fixture) {
	d, ctx := f.d, f.ctx
	f.domain("a.example", 0, 0)
	if err := d.CreateDomain(ctx, directory.Domain{Name: "off.example"}); err != nil {
		f.t.Fatal(err)
	}
	f.account("bob@a.example")
	f.alias("list@a.example", "bob@a.example")
	cases := []struct {
		what string
		al   directory.Alias
		want error
	}{
		{"source is an account", directory.Alias{Source: "BOB@a.example", Targets: []string{"x@remote.example"}}, directory.ErrExists},
		{"source is an alias", directory.Alias{Source: "List@a.example", Targets: []string{"x@remote.example"}}, directory.ErrExists},
		{"unknown domain", directory.Alias{Source: "x@nope.example", Targets: []string{"bob@a.example"}}, directory.ErrNotFound},
		{"disabled domain", directory.Alias{Source: "x@off.example", Targets: []string{"bob@a.example"}}, directory.ErrDisabled},
		{"domain mismatch", directory.Alias{Source: "x@a.example", Domain: "off.example", Targets: []string{"bob@a.example"}}, directory.ErrInvalid},
		{"no targets", directory.Alias{Source: "x@a.example"}, directory.ErrInvalid},
		{"bad target", directory.Alias{Source: "x@a.example", Targets: []string{"bob@a.example", "not an address"}}, directory.ErrInvalid},
		{"relay target", directory.Alias{Source: "x@a.example", Targets: []string{"u%v@a.example"}}, directory.ErrInvalid},
		{"targets itself", directory.Alias{Source: "x@a.example", Targets: []string{"X@A.example"}}, directory.ErrInvalid},
		{"bad source", directory.Alias{Source: "@a,@b:x@a.example", Targets: []string{"bob@a.example"}}, directory.ErrInvalid},
		{"bad catch-all", directory.Alias{Source: "@", Targets: []string{"bob@a.example"}}, directory.ErrInvalid},
	}
	for _, c := range cases {
		f.wantErr("CreateAlias("+c.what+")", d.CreateAlias(ctx, c.al), c.want)
	}
	if all := f.aliasesOf(""); len(all) != 1 {
		f.t.Errorf("Aliases after refused creations = %v, want only list@", all)
	}
}
