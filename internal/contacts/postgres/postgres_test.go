package postgres_test

import (
	"testing"

	"go.uber.org/goleak"

	"mailgrid/internal/contacts"
	"mailgrid/internal/contacts/contactstest"
	"mailgrid/internal/contacts/postgres"
	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/testkit/pgtest"
)

// TestMain fails the package if a test leaves goroutines behind (a pool not closed).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	var dbs pgkittest.PerTest
	contactstest.Run(t, func(t *testing.T) contacts.Store {
		s, err := postgres.Open(t.Context(), dbs.DSN(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// BenchmarkBook: go test ./internal/contacts/postgres -run - -bench .
func BenchmarkBook(b *testing.B) {
	s, err := postgres.Open(b.Context(), pgtest.DSN(b), postgres.Options{})
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
