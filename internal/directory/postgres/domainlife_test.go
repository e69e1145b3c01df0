package postgres

import (
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
	"mailgrid/internal/testkit/pgtest"
)

func TestDomainLifecycleConformance(t *testing.T) {
	directorytest.RunDomainLifecycle(t, func(t *testing.T) directory.Directory {
		return open(t, pgtest.DSN(t))
	})
}
