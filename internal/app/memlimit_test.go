package app

import (
	"math"
	"runtime/debug"
	"testing"

	"mailgrid/internal/obs"
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
