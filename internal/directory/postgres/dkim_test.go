package postgres

import (
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/dkimkeys"
	"mailgrid/internal/dkimkeys/keystest"
	"mailgrid/internal/testkit/pgtest"
)

// The cluster's DKIM keys pass the keepers' conformance suite; every keeper a test
// opens is another Directory (another node) over the same database.
func TestDKIMKeysConformance(t *testing.T) {
	keystest.Run(t, func(t *testing.T) keystest.Storage {
		dsn := pgtest.DSN(t)
		first := open(t, dsn)
		if err := first.CreateDomain(t.Context(), directory.Domain{Name: "example.test", Enabled: true}); err != nil {
			t.Fatal(err)
		}
		return func(now func() time.Time) dkimkeys.Keys {
			return open(t, dsn).DKIMKeys(dkimkeys.Options{Grace: keystest.Grace, Now: now})
		}
	})
}

// Keys of a domain that is not hosted cannot be made; a deleted domain's keys go with it.
func TestDKIMKeysFollowDomain(t *testing.T) {
	ctx := t.Context()
	d := open(t, pgtest.DSN(t))
	k := d.DKIMKeys(dkimkeys.Options{})
	if _, err := k.Rotate(ctx, "nowhere.test"); err == nil {
		t.Fatal("rotated keys of a domain that is not hosted")
	}
	if err := d.CreateDomain(ctx, directory.Domain{Name: "gone.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Rotate(ctx, "gone.test"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteDomain(ctx, "gone.test", false); err != nil {
		t.Fatal(err)
	}
	if keys, err := k.Active(ctx, "gone.test"); err != nil || len(keys) != 0 {
		t.Fatalf("keys of a deleted domain: %v %v", keys, err)
	}
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM dkim_keys`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows left (%v)", n, err)
	}
}
