package sqlite_test

import (
	"testing"

	"mailgrid/internal/schedule"
	"mailgrid/internal/schedule/scheduletest"
	"mailgrid/internal/schedule/sqlite"
	"mailgrid/internal/sqlitekit/sqlitekittest"
)

func TestConformance(t *testing.T) {
	var dirs sqlitekittest.PerTest
	scheduletest.Run(t, func(t *testing.T) schedule.Store {
		s, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dirs.Dir(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// BenchmarkSchedule: go test ./internal/schedule/sqlite -run - -bench .
func BenchmarkSchedule(b *testing.B) {
	s, err := sqlite.Open(b.Context(), sqlite.Options{Dir: b.TempDir()})
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
