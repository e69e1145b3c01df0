package sqlite_test

import (
	"sync"
	"testing"

	"mailgrid/internal/schedule"
	"mailgrid/internal/schedule/scheduletest"
	"mailgrid/internal/schedule/sqlite"
)

func TestConformance(t *testing.T) {
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	scheduletest.Run(t, func(t *testing.T) schedule.Store {
		mu.Lock()
		dir, ok := dirs[t]
		if !ok {
			dir = t.TempDir()
			dirs[t] = dir
		}
		mu.Unlock()
		s, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dir})
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
