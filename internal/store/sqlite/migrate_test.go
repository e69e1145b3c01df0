package sqlite

import (
	"path/filepath"
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
)

// TestMigrationConformance runs storetest's migration suite with a SQLite source and
// target (the Fencer cases skip: SQLite is never a migration source).
func TestMigrationConformance(t *testing.T) {
	storetest.RunMigration(t, func(t *testing.T, pub store.Publisher) (store.Store, store.Store) {
		dir := t.TempDir()
		return openAt(t, filepath.Join(dir, "src"), pub, 0), openAt(t, filepath.Join(dir, "dst"), pub, 0)
	})
}
