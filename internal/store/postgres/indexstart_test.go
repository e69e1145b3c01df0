package postgres

import (
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
	"mailgrid/internal/testkit/pgtest"
)

// TestTextIndexStart: storetest.RunTextIndexStart, the index forgotten by deleting its
// rows and the watermarks (search_clean) in the closed shard's schema.
func TestTextIndexStart(t *testing.T) {
	d := &schemas{dsn: pgtest.DSN(t)}
	storetest.RunTextIndexStart(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.dsn, Options{Publisher: pub, Schema: d.get(t)})
	}, func(t *testing.T) {
		c := sqlConnIn(t, d.dsn, d.get(t))
		if _, err := c.Exec(t.Context(), `DELETE FROM search_text; DELETE FROM search_clean`); err != nil {
			t.Fatalf("forget the text index: %v", err)
		}
	})
}
