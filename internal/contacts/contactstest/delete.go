package contactstest

import (
	"errors"
	"slices"
	"testing"

	"mailgrid/internal/contacts"
)

// testDeleteAccount: DeleteAccount empties one account's personal book and drops it from
// the group book's editors; the other accounts, the group book and the other tenant's
// account of the same ID keep theirs. Deleting again, or an account without a book, is no
// error; the group book (account 0) cannot be deleted this way.
func testDeleteAccount(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	for _, b := range []contacts.Book{ann, bob, group, other} {
		if _, err := s.Add(ctx, b, contacts.Contact{Name: "Someone", Emails: []string{"x@example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.SetEditors(ctx, ann.Domain, []int64{ann.Account, bob.Account}))
	must(t, s.SetEditors(ctx, other.Domain, []int64{other.Account}))

	must(t, s.DeleteAccount(ctx, ann.Domain, ann.Account))
	must(t, s.DeleteAccount(ctx, ann.Domain, ann.Account)) // nothing left: no error
	for _, bad := range []contacts.Book{group, {Account: 1}} {
		if err := s.DeleteAccount(ctx, bad.Domain, bad.Account); !errors.Is(err, contacts.ErrInvalid) {
			t.Errorf("DeleteAccount(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	for b, want := range map[contacts.Book]int{ann: 0, bob: 1, group: 1, other: 1} {
		if cs := list(t, s, b); len(cs) != want {
			t.Errorf("book %+v after deleting ann: %d contacts, want %d", b, len(cs), want)
		}
	}
	if ids := editors(t, s, ann.Domain); !slices.Equal(ids, []int64{bob.Account}) {
		t.Errorf("editors of %s: %v, want only bob", ann.Domain, ids)
	}
	if ids := editors(t, s, other.Domain); !slices.Equal(ids, []int64{other.Account}) {
		t.Errorf("editors of %s: %v, want the other tenant's account", other.Domain, ids)
	}
}

// testDeleteDomain: DeleteDomain empties every book of one domain (the group book
// included) and its editors; the other domain keeps its own.
func testDeleteDomain(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	for _, b := range []contacts.Book{ann, bob, group, other, {Domain: other.Domain}} {
		if _, err := s.Add(ctx, b, contacts.Contact{Name: "Someone", Emails: []string{"x@example.com"}}); err != nil {
			t.Fatal(err)
		}
	}
	must(t, s.SetEditors(ctx, ann.Domain, []int64{ann.Account}))
	must(t, s.SetEditors(ctx, other.Domain, []int64{other.Account}))

	must(t, s.DeleteDomain(ctx, ann.Domain))
	must(t, s.DeleteDomain(ctx, ann.Domain))
	if err := s.DeleteDomain(ctx, ""); !errors.Is(err, contacts.ErrInvalid) {
		t.Errorf("DeleteDomain(\"\"): %v, want ErrInvalid", err)
	}
	for b, want := range map[contacts.Book]int{ann: 0, bob: 0, group: 0, other: 1, {Domain: other.Domain}: 1} {
		if cs := list(t, s, b); len(cs) != want {
			t.Errorf("book %+v after deleting %s: %d contacts, want %d", b, ann.Domain, len(cs), want)
		}
	}
	if ids := editors(t, s, ann.Domain); len(ids) != 0 {
		t.Errorf("editors of the deleted domain: %v", ids)
	}
	if ids := editors(t, s, other.Domain); !slices.Equal(ids, []int64{other.Account}) {
		t.Errorf("editors of %s: %v", other.Domain, ids)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func list(t *testing.T, s contacts.Store, b contacts.Book) []contacts.Contact {
	t.Helper()
	cs, err := s.List(t.Context(), b, contacts.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func editors(t *testing.T, s contacts.Store, domain string) []int64 {
	t.Helper()
	ids, err := s.Editors(t.Context(), domain)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
