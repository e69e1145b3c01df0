package postgres

import (
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
	"mailgrid/internal/testkit/pgtest"
)

// TestMigrationConformance runs storetest's migration suite with the source and the
// target in two schemas of one database, and checks both agree with themselves after.
func TestMigrationConformance(t *testing.T) {
	d := &schemas{dsn: pgtest.DSN(t)}
	storetest.RunMigration(t, func(t *testing.T, pub store.Publisher) (store.Store, store.Store) {
		src := openAt(t, d.dsn, Options{Publisher: pub, Schema: d.get(t)})
		dst := openAt(t, d.dsn, Options{Publisher: pub, Schema: d.get(t) + "_target"})
		t.Cleanup(func() { checkInvariantsIn(t, d.dsn, d.get(t)+"_target") })
		return src, dst
	})
}
