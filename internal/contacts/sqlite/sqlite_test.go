package sqlite_test

import (
	"testing"

	"mailgrid/internal/contacts"
	"mailgrid/internal/contacts/contactstest"
	"mailgrid/internal/contacts/sqlite"
	"mailgrid/internal/sqlitekit/sqlitekittest"
)

func TestConformance(t *testing.T) {
	var dirs sqlitekittest.PerTest
	contactstest.Run(t, func(t *testing.T) contacts.Store {
		s, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dirs.Dir(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// BenchmarkBook: go test ./internal/contacts/sqlite -run - -bench .
func BenchmarkBook(b *testing.B) {
	s, err := sqlite.Open(b.Context(), sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	}()
	contactstest.Bench(b, s, 10000)
}
