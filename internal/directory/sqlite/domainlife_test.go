package sqlite

import (
	"path/filepath"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
)

func TestDomainLifecycleConformance(t *testing.T) {
	directorytest.RunDomainLifecycle(t, func(t *testing.T) directory.Directory {
		return openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}
