package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
)

// TestTextIndexStart: storetest.RunTextIndexStart, the index forgotten by deleting its
// rows and search_state in the closed shard's database.
func TestTextIndexStart(t *testing.T) {
	var d dirs
	storetest.RunTextIndexStart(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.get(t), pub, 0)
	}, func(t *testing.T) {
		db, err := sql.Open("sqlite", dsn(filepath.Join(d.get(t), "store.db"), false))
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ExecContext(t.Context(), `DELETE FROM search_text; DELETE FROM search_state`)
		if err = errors.Join(err, db.Close()); err != nil {
			t.Fatalf("forget the text index: %v", err)
		}
	})
}
