package sqlitekit_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"mailgrid/internal/sqlkit/sqlkittest"
)

// The sqlkit adapters pass sqlkittest, and "no row" still matches sql.ErrNoRows.
func TestConn(t *testing.T) {
	d, err := open(t, filepath.Join(t.TempDir(), "c.db"), []string{sqlkittest.Schema + " STRICT"})
	if err != nil {
		t.Fatal(err)
	}
	sqlkittest.Run(t, d.Writer(), d.Reader())
	var v int
	if err := d.Reader().QueryRow(t.Context(), "SELECT v FROM kv WHERE k = 'zz'").Scan(&v); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("no row: %v, want sql.ErrNoRows in the chain", err)
	}
}
