package app

import (
	"log/slog"
	"runtime/debug"

	"mailgrid/internal/sqliteheap"
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

// applySQLiteHeapLimit sets the soft limit of SQLite's heap from
// node.sqlite_heap_limit_bytes (0 = none). A limit SQLite would not enforce is logged,
// not fatal: the node runs as before, with SQLite's heap bounded only by its page caches.
func applySQLiteHeapLimit(limit int64, log *slog.Logger) {
	if _, err := sqliteheap.SetSoftLimit(limit); err != nil {
		log.Warn("sqlite heap limit not set", "bytes", limit, "err", err)
	}
}
