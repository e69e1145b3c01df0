package postgres_test

import (
	"testing"

	"go.uber.org/goleak"

	"mailgrid/internal/fetch"
	"mailgrid/internal/fetch/fetchtest"
	"mailgrid/internal/fetch/postgres"
	"mailgrid/internal/pgkit/pgkittest"
)

// TestMain fails the package if a test leaves goroutines behind (a pool not closed).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	var dbs pgkittest.PerTest
	fetchtest.Run(t, func(t *testing.T) fetch.Store {
		s, err := postgres.Open(t.Context(), dbs.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
