package postgres_test

import (
	"testing"

	"go.uber.org/goleak"

	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/schedule"
	"mailgrid/internal/schedule/postgres"
	"mailgrid/internal/schedule/scheduletest"
	"mailgrid/internal/testkit/pgtest"
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

// BenchmarkSchedule: go test ./internal/schedule/postgres -run - -bench .
func BenchmarkSchedule(b *testing.B) {
	s, err := postgres.Open(b.Context(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	}()
	scheduletest.Bench(b, s)
}
