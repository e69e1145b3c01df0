package postgres_test

import (
	"testing"

	"go.uber.org/goleak"

	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/schedule"
	"mailgrid/internal/schedule/postgres"
	"mailgrid/internal/schedule/scheduletest"
)

// TestMain fails the package if a test leaves goroutines behind (a pool not closed).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	var dbs pgkittest.PerTest
	scheduletest.Run(t, func(t *testing.T) schedule.Store {
		s, err := postgres.Open(t.Context(), dbs.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
