package statetest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"mailgrid/internal/filter"
)

// testAccountDocs: documents are per account and tenant, replaced whole, shared by two
// handles on the same storage, bounded in name and size, and deleting an absent one is
// not an error.
func testAccountDocs(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openState(t, open)
	if _, err := s.Doc(ctx, alice, "prefs"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("Doc before any write: %v, want ErrNotFound", err)
	}
	if err := s.PutDoc(ctx, alice, "prefs", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDoc(ctx, alice, "prefs", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDoc(ctx, alice, "signatures", []byte{}); err != nil {
		t.Fatal(err)
	}
	other := openState(t, open) // a second node on the same storage
	if got, err := other.Doc(ctx, alice, "prefs"); err != nil || string(got) != `{"a":2}` {
		t.Fatalf("Doc from a second handle = %q, %v; want the last write", got, err)
	}
	if got, err := s.Doc(ctx, alice, "signatures"); err != nil || len(got) != 0 {
		t.Fatalf("empty document = %q, %v", got, err)
	}
	if _, err := s.Doc(ctx, bob, "prefs"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("another tenant's account with the same ID sees the document: %v", err)
	}
	for _, name := range []string{"", "Prefs", "../x", "a b", strings.Repeat("a", 65), "a\x00"} {
		if err := s.PutDoc(ctx, alice, name, []byte("x")); !errors.Is(err, filter.ErrInvalid) {
			t.Errorf("PutDoc(%q) = %v, want ErrInvalid", name, err)
		}
	}
	big := bytes.Repeat([]byte("x"), filter.MaxDocBytes+1)
	if err := s.PutDoc(ctx, alice, "prefs", big); !errors.Is(err, filter.ErrInvalid) {
		t.Errorf("PutDoc over MaxDocBytes = %v, want ErrInvalid", err)
	}
	if got, err := s.Doc(ctx, alice, "prefs"); err != nil || string(got) != `{"a":2}` {
		t.Fatalf("a refused write changed the document: %q, %v", got, err)
	}
	if err := s.DeleteDoc(ctx, alice, "prefs"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDoc(ctx, alice, "prefs"); err != nil {
		t.Fatalf("deleting an absent document: %v", err)
	}
	if _, err := other.Doc(ctx, alice, "prefs"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("Doc after delete: %v", err)
	}
	if _, err := s.Doc(ctx, alice, "signatures"); err != nil {
		t.Fatalf("deleting one document removed another: %v", err)
	}
}
