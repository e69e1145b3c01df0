package postgres

import (
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
	"mailgrid/internal/testkit/pgtest"
)

func TestSSOConformance(t *testing.T) {
	directorytest.RunSSO(t, func(t *testing.T) directory.Directory {
		return open(t, pgtest.DSN(t))
	})
}
