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
// rows (search.db) and search_state (store.db) in the closed shard's databases.
func TestTextIndexStart(t *testing.T) {
	var d dirs
	storetest.RunTextIndexStart(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.get(t), pub, 0)
	}, func(t *testing.T) {
		for file, q := range map[string]string{"store.db": `DELETE FROM search_state`, searchFile: `DELETE FROM search_text`} {
			db, err := sql.Open("sqlite", dsn(filepath.Join(d.get(t), file), false))
			if err != nil {
				t.Fatal(err)
			}
			_, err = db.ExecContext(t.Context(), q)
			if err = errors.Join(err, db.Close()); err != nil {
				t.Fatalf("forget the text index: %s: %v", file, err)
			}
		}
	})
}
