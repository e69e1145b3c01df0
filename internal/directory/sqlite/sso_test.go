package sqlite

import (
	"path/filepath"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
)

func TestSSOConformance(t *testing.T) {
	directorytest.RunSSO(t, func(t *testing.T) directory.Directory {
		return openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}
