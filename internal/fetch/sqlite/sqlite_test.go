package sqlite_test

import (
	"testing"

	"mailgrid/internal/fetch"
	"mailgrid/internal/fetch/fetchtest"
	"mailgrid/internal/fetch/sqlite"
)

func TestConformance(t *testing.T) {
	dirs := map[*testing.T]string{}
	fetchtest.Run(t, func(t *testing.T) fetch.Store {
		dir, ok := dirs[t]
		if !ok {
			dir = t.TempDir()
			dirs[t] = dir
		}
		s, err := sqlite.Open(t.Context(), sqlite.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
