package app

import (
	"log/slog"
	"runtime/debug"
)

// applyMemoryLimit sets the Go runtime's soft memory limit from node.memory_limit_bytes
// (0 leaves the runtime's own, which GOMEMLIMIT sets) and returns the limit in force.
func applyMemoryLimit(limit int64, log *slog.Logger) int64 {
	if limit > 0 {
		debug.SetMemoryLimit(limit)
		log.Info("memory limit set", "bytes", limit)
	}
	return debug.SetMemoryLimit(-1) // -1 reads it
}
