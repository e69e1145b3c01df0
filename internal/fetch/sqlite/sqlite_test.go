package sqlite_test

import (
	"testing"

	"mailgrid/internal/fetch"
	"mailgrid/internal/fetch/fetchtest"
	"mailgrid/internal/fetch/sqlite"
	"mailgrid/internal/sqlitekit/sqlitekittest"
)

func TestConformance(t *testing.T) {
	var dirs sqlitekittest.PerTest
	fetchtest.Run(t, func(t *testing.T) fetch.Store {
		s, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dirs.Dir(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
