package postgres_test

import (
	"testing"

	"go.uber.org/goleak"

	"mailgrid/internal/contacts"
	"mailgrid/internal/contacts/contactstest"
	"mailgrid/internal/contacts/postgres"
	"mailgrid/internal/pgkit/pgkittest"
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
