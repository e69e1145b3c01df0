// Package contactstest is the conformance suite every contacts.Store driver runs: the
// same behaviour from the embedded (sqlite) and the cluster (postgres) driver.
package contactstest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"mailgrid/internal/contacts"
)

// Open returns a store; called twice within one test it must return stores over the same
// data (the suite checks that changes survive a reopen). The suite closes what it opens.
type Open func(t *testing.T) contacts.Store

var (
	ann   = contacts.Book{Domain: "example.org", Account: 1}
	bob   = contacts.Book{Domain: "example.org", Account: 2}
	group = contacts.Book{Domain: "example.org"}
	other = contacts.Book{Domain: "example.net", Account: 1} // same account id, other tenant
)

// Run runs the suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"CRUD", testCRUD},
		{"Invalid", testInvalid},
		{"OrderSearch", testOrderSearch},
		{"Isolation", testIsolation},
		{"ImportAllOrNothing", testImport},
		{"Reopen", testReopen},
		{"Groups", testGroups},
		{"Editors", testEditors},
		{"DeleteAccount", testDeleteAccount},
		{"DeleteDomain", testDeleteDomain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func opened(t *testing.T, open Open) contacts.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func strip(cs ...contacts.Contact) []contacts.Contact {
	out := make([]contacts.Contact, len(cs))
	for i, c := range cs {
		out[i] = contacts.Contact{Name: c.Name, Emails: c.Emails, Phones: c.Phones, Note: c.Note}
	}
	return out
}

func names(cs []contacts.Contact) []string {
	var ns []string
	for _, c := range cs {
		ns = append(ns, c.Name)
	}
	return ns
}

func testCRUD(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	c := contacts.Contact{Name: " Ann Example ", Emails: []string{"ann@Example.ORG", " "}, Phones: []string{"+1 555 0100"}, Note: "hi\nthere"}
	id, err := s.Add(ctx, ann, c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, ann, id)
	if err != nil {
		t.Fatal(err)
	}
	want := contacts.Contact{Name: "Ann Example", Emails: []string{"ann@example.org"}, Phones: []string{"+1 555 0100"}, Note: "hi\nthere"}
	if got.ID != id || got.Updated.IsZero() || !reflect.DeepEqual(strip(got), []contacts.Contact{want}) {
		t.Fatalf("Get %+v", got)
	}
	got.Emails = append(got.Emails, "ann2@example.org")
	got.Phones = nil
	if err := s.Update(ctx, ann, got); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, ann, contacts.Query{})
	if err != nil {
		t.Fatal(err)
	}
	want.Emails, want.Phones = []string{"ann@example.org", "ann2@example.org"}, nil
	if len(list) != 1 || list[0].ID != id || !reflect.DeepEqual(strip(list...), []contacts.Contact{want}) {
		t.Fatalf("List %+v", list)
	}
	if err := s.Delete(ctx, ann, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, ann, id); !errors.Is(err, contacts.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if err := s.Delete(ctx, ann, id); !errors.Is(err, contacts.ErrNotFound) {
		t.Fatalf("Delete twice: %v", err)
	}
	if err := s.Update(ctx, ann, got); !errors.Is(err, contacts.ErrNotFound) {
		t.Fatalf("Update deleted: %v", err)
	}
}

func testInvalid(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	for _, c := range []contacts.Contact{
		{},
		{Name: "x", Emails: []string{"no at sign"}},
		{Name: "x", Emails: []string{"Ann <ann@example.org>"}},
		{Name: "x\r\nBcc: evil@example.com"},
		{Name: "x", Phones: []string{"1\n2"}},
	} {
		if _, err := s.Add(ctx, ann, c); !errors.Is(err, contacts.ErrInvalid) {
			t.Errorf("Add %+v: %v", c, err)
		}
	}
	id, err := s.Add(ctx, ann, contacts.Contact{Name: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, ann, contacts.Contact{ID: id, Name: "bad\x00"}); !errors.Is(err, contacts.ErrInvalid) {
		t.Errorf("Update invalid: %v", err)
	}
	list, err := s.List(ctx, ann, contacts.Query{})
	if err != nil || len(list) != 1 || list[0].Name != "ok" {
		t.Fatalf("after refusals: %+v %v", list, err)
	}
}

func testOrderSearch(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	for _, c := range []contacts.Contact{
		{Name: "carol", Emails: []string{"a@example.org"}},
		{Name: "Alice", Emails: []string{"zed@example.org"}},
		{Name: "bob", Emails: []string{"m@example.com"}},
		{Name: "100%_\\ sure", Emails: []string{"pct@example.com"}},
		{Name: "No Mail"},
	} {
		if _, err := s.Add(ctx, ann, c); err != nil {
			t.Fatal(err)
		}
	}
	list := func(q contacts.Query) []string {
		t.Helper()
		cs, err := s.List(ctx, ann, q)
		if err != nil {
			t.Fatal(err)
		}
		return names(cs)
	}
	check := func(q contacts.Query, want ...string) {
		t.Helper()
		if got := list(q); !reflect.DeepEqual(got, want) {
			t.Errorf("%+v: %q want %q", q, got, want)
		}
	}
	check(contacts.Query{}, "100%_\\ sure", "Alice", "bob", "carol", "No Mail")
	check(contacts.Query{Order: contacts.ByEmail}, "carol", "bob", "100%_\\ sure", "Alice", "No Mail")
	check(contacts.Query{Order: contacts.ByEmail, Limit: 2}, "carol", "bob")
	check(contacts.Query{Search: "EXAMPLE.COM"}, "100%_\\ sure", "bob")
	check(contacts.Query{Search: "ALI"}, "Alice")
	check(contacts.Query{Search: "%"}, "100%_\\ sure")
	check(contacts.Query{Search: "_"}, "100%_\\ sure")
	check(contacts.Query{Search: `\`}, "100%_\\ sure")
	check(contacts.Query{Search: "nobody"})
}

func testIsolation(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	ids := map[contacts.Book]int64{}
	for _, b := range []contacts.Book{ann, bob, group, other} {
		id, err := s.Add(ctx, b, contacts.Contact{Name: fmt.Sprintf("%s/%d", b.Domain, b.Account)})
		if err != nil {
			t.Fatal(err)
		}
		ids[b] = id
	}
	for b, id := range ids {
		cs, err := s.List(ctx, b, contacts.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s/%d", b.Domain, b.Account); len(cs) != 1 || cs[0].Name != want {
			t.Errorf("%+v lists %q", b, names(cs))
		}
		for b2 := range ids {
			if b2 == b {
				continue
			}
			if _, err := s.Get(ctx, b2, id); !errors.Is(err, contacts.ErrNotFound) {
				t.Errorf("%+v reads %+v's contact: %v", b2, b, err)
			}
			if err := s.Update(ctx, b2, contacts.Contact{ID: id, Name: "stolen"}); !errors.Is(err, contacts.ErrNotFound) {
				t.Errorf("%+v updates %+v's contact: %v", b2, b, err)
			}
			if err := s.Delete(ctx, b2, id); !errors.Is(err, contacts.ErrNotFound) {
				t.Errorf("%+v deletes %+v's contact: %v", b2, b, err)
			}
		}
		if c, err := s.Get(ctx, b, id); err != nil || c.Name == "stolen" {
			t.Errorf("%+v after the others tried: %+v %v", b, c, err)
		}
	}
}

func testImport(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	good := []contacts.Contact{{Name: "one", Emails: []string{"one@example.org"}}, {Name: "two"}}
	bad := append(append([]contacts.Contact{}, good...), contacts.Contact{Name: "three", Emails: []string{"broken"}})
	if err := s.Import(ctx, ann, bad); !errors.Is(err, contacts.ErrInvalid) {
		t.Fatalf("Import with a bad contact: %v", err)
	}
	if cs, err := s.List(ctx, ann, contacts.Query{}); err != nil || len(cs) != 0 {
		t.Fatalf("a refused import left %q %v", names(cs), err)
	}
	if err := s.Import(ctx, ann, good); err != nil {
		t.Fatal(err)
	}
	cs, err := s.List(ctx, ann, contacts.Query{})
	if err != nil || !reflect.DeepEqual(strip(cs...), good) {
		t.Fatalf("imported %+v %v", cs, err)
	}
	if cs, err := s.List(ctx, bob, contacts.Query{}); err != nil || len(cs) != 0 {
		t.Fatalf("import reached another book: %q %v", names(cs), err)
	}
}

func testReopen(t *testing.T, open Open) {
	s := open(t)
	id, err := s.Add(t.Context(), group, contacts.Contact{Name: "kept", Emails: []string{"kept@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := opened(t, open)
	c, err := s2.Get(t.Context(), group, id)
	if err != nil || c.Name != "kept" || c.Email() != "kept@example.org" {
		t.Fatalf("after reopen: %+v %v", c, err)
	}
}

// Bench measures an import of n contacts and a search over them in one book of s.
func Bench(b *testing.B, s contacts.Store, n int) {
	cs := make([]contacts.Contact, n)
	for i := range cs {
		cs[i] = contacts.Contact{Name: fmt.Sprintf("Person %06d", i), Emails: []string{fmt.Sprintf("p%06d@example.org", i)}, Phones: []string{"+1 555 0100"}}
	}
	ctx := b.Context()
	b.Run(fmt.Sprintf("Import%d", n), func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if err := s.Import(ctx, contacts.Book{Domain: "bench.example", Account: int64(i + 1)}, cs); err != nil {
				b.Fatal(err)
			}
		}
	})
	book := contacts.Book{Domain: "bench.example", Account: 1}
	b.Run(fmt.Sprintf("Complete%d", n), func(b *testing.B) {
		for b.Loop() {
			if got, err := s.List(ctx, book, contacts.Query{Search: "p0042", Limit: 10}); err != nil || len(got) == 0 {
				b.Fatal(err, len(got))
			}
		}
	})
	b.Run(fmt.Sprintf("ListAll%d", n), func(b *testing.B) {
		for b.Loop() {
			if got, err := s.List(ctx, book, contacts.Query{Order: contacts.ByEmail}); err != nil || len(got) != n {
				b.Fatal(err, len(got))
			}
		}
	})
}

func testGroups(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	if _, err := s.Add(ctx, ann, contacts.Contact{Name: "Zoe", Emails: []string{"zoe@example.org"}}); err != nil {
		t.Fatal(err)
	}
	g := contacts.Contact{Kind: contacts.KindGroup, Name: " Team ", Note: "the team",
		Members: []string{"zoe@Example.ORG", " ", "adam@example.org", "ZOE@example.org"}}
	id, err := s.Add(ctx, ann, g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, ann, id)
	if err != nil || !got.IsGroup() || got.Name != "Team" || got.Note != "the team" || len(got.Emails) != 0 ||
		!reflect.DeepEqual(got.Members, []string{"zoe@example.org", "adam@example.org"}) {
		t.Fatalf("Get group %+v %v", got, err)
	}
	kinds := func(k contacts.KindFilter, search string) []string {
		t.Helper()
		cs, err := s.List(ctx, ann, contacts.Query{Kinds: k, Search: search})
		if err != nil {
			t.Fatal(err)
		}
		return names(cs)
	}
	if got := kinds(contacts.AllKinds, ""); !reflect.DeepEqual(got, []string{"Team", "Zoe"}) {
		t.Errorf("all kinds: %q", got)
	}
	if got := kinds(contacts.OnlyGroups, ""); !reflect.DeepEqual(got, []string{"Team"}) {
		t.Errorf("groups: %q", got)
	}
	if got := kinds(contacts.OnlyIndividuals, ""); !reflect.DeepEqual(got, []string{"Zoe"}) {
		t.Errorf("individuals: %q", got)
	}
	// A group is found by its name, not its members.
	if got := kinds(contacts.AllKinds, "tea"); !reflect.DeepEqual(got, []string{"Team"}) {
		t.Errorf("search by group name: %q", got)
	}
	if got := kinds(contacts.AllKinds, "adam"); len(got) != 0 {
		t.Errorf("search by a member's address: %q", got)
	}
	// Rename, remove a member, add one.
	got.Name, got.Members = "Core team", []string{"adam@example.org", "bob@example.org"}
	if err := s.Update(ctx, ann, got); err != nil {
		t.Fatal(err)
	}
	if g2, err := s.Get(ctx, ann, id); err != nil || g2.Name != "Core team" || !reflect.DeepEqual(g2.Members, []string{"adam@example.org", "bob@example.org"}) {
		t.Fatalf("after Update %+v %v", g2, err)
	}
	for _, bad := range []contacts.Contact{
		{Kind: contacts.KindGroup, Members: []string{"a@example.org"}},
		{Kind: contacts.KindGroup, Name: "x", Members: []string{"not an address"}},
		{Kind: contacts.KindGroup, Name: "x", Emails: []string{"own@example.org"}},
		{Kind: contacts.KindGroup, Name: "x", Members: []string{"Ann <ann@example.org>"}},
		{Kind: 7, Name: "x"},
	} {
		if _, err := s.Add(ctx, ann, bad); !errors.Is(err, contacts.ErrInvalid) {
			t.Errorf("Add %+v: %v", bad, err)
		}
	}
	// An individual carries no members.
	iid, err := s.Add(ctx, ann, contacts.Contact{Name: "Ind", Members: []string{"m@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.Get(ctx, ann, iid); err != nil || c.IsGroup() || len(c.Members) != 0 {
		t.Fatalf("an individual with members: %+v %v", c, err)
	}
	if err := s.Import(ctx, bob, []contacts.Contact{{Name: "one", Emails: []string{"one@example.org"}},
		{Kind: contacts.KindGroup, Name: "list", Members: []string{"one@example.org"}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, bob, contacts.Query{Kinds: contacts.OnlyGroups}); err != nil || len(got) != 1 || got[0].Members[0] != "one@example.org" {
		t.Fatalf("imported group %+v %v", got, err)
	}
	if err := s.Delete(ctx, ann, id); err != nil {
		t.Fatal(err)
	}
	if got := kinds(contacts.OnlyGroups, ""); len(got) != 0 {
		t.Errorf("deleted group listed: %q", got)
	}
}

// testEditors: a domain's permitted group-book editors are replaced as a whole, sorted
// and without duplicates, kept per domain; a bad list is refused and changes nothing.
func testEditors(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	get := func(domain string) []int64 {
		t.Helper()
		ids, err := s.Editors(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := get("example.org"); len(ids) != 0 {
		t.Fatalf("fresh: %v", ids)
	}
	if err := s.SetEditors(ctx, "example.org", []int64{7, 3, 7}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEditors(ctx, "example.net", []int64{9}); err != nil {
		t.Fatal(err)
	}
	if ids := get("example.org"); !slices.Equal(ids, []int64{3, 7}) {
		t.Fatalf("example.org: %v", ids)
	}
	for _, bad := range [][]int64{{3, 0}, {-1}, make([]int64, contacts.MaxEditors+1)} {
		if len(bad) > contacts.MaxEditors {
			for i := range bad {
				bad[i] = int64(i + 1)
			}
		}
		if err := s.SetEditors(ctx, "example.org", bad); !errors.Is(err, contacts.ErrInvalid) {
			t.Errorf("SetEditors(%.5v): %v, want ErrInvalid", bad, err)
		}
	}
	if ids := get("example.org"); !slices.Equal(ids, []int64{3, 7}) {
		t.Fatalf("after refusals: %v", ids)
	}
	if err := s.SetEditors(ctx, "example.org", []int64{5}); err != nil {
		t.Fatal(err)
	}
	if ids := get("example.org"); !slices.Equal(ids, []int64{5}) {
		t.Fatalf("replaced: %v", ids)
	}
	if err := s.SetEditors(ctx, "example.org", nil); err != nil {
		t.Fatal(err)
	}
	if ids, other := get("example.org"), get("example.net"); len(ids) != 0 || !slices.Equal(other, []int64{9}) {
		t.Fatalf("cleared: %v, other domain %v", ids, other)
	}
}
