package app

import (
	"math"
	"runtime/debug"
	"testing"

	"mailgrid/internal/config"
	"mailgrid/internal/obs"
	"mailgrid/internal/sqliteheap"
)

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	debug.SetMemoryLimit(math.MaxInt64)
	if got := applyMemoryLimit(0, obs.Discard()); got != math.MaxInt64 {
		t.Fatalf("0 changed the limit to %d", got)
	}
	if got := applyMemoryLimit(256<<20, obs.Discard()); got != 256<<20 {
		t.Fatalf("limit in force %d, want %d", got, 256<<20)
	}
	if got := debug.SetMemoryLimit(-1); got != 256<<20 {
		t.Fatalf("runtime limit %d", got)
	}
}

// TestApplySQLiteHeapLimit: node.sqlite_heap_limit_bytes reaches SQLite, whose memory
// accounting the app's import of sqliteheap turned on before any database opened.
func TestApplySQLiteHeapLimit(t *testing.T) {
	prev, err := sqliteheap.SetSoftLimit(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sqliteheap.SetSoftLimit(prev) })
	applySQLiteHeapLimit(12<<20, obs.Discard())
	if got, err := sqliteheap.SetSoftLimit(0); err != nil || got != 12<<20 {
		t.Fatalf("limit in force %d (%v), want %d", got, err, 12<<20)
	}
	if got := config.Default().Node.SQLiteHeapLimitBytes; got != 8<<20 {
		t.Fatalf("default node.sqlite_heap_limit_bytes %d, want 8 MiB", got)
	}
}
