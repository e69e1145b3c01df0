package postgres

import (
	"net/url"
	"testing"

	"mailgrid/internal/testkit/pgtest"
)

// Sessions commit durably (synchronous_commit=on) and find the queue's tables first,
// unless the DSN chooses its own synchronous_commit.
func TestSessionSettings(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	v.Set("synchronous_commit", "local")
	u.RawQuery = v.Encode()
	for want, dsn := range map[string]string{"on": dsn, "local": u.String()} {
		q, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		var sync, path string
		if err := q.pool.QueryRow(t.Context(), `SELECT current_setting('synchronous_commit'), current_setting('search_path')`).Scan(&sync, &path); err != nil {
			t.Fatal(err)
		}
		if sync != want || path != SchemaName {
			t.Errorf("synchronous_commit %q search_path %q; want %q and %q", sync, path, want, SchemaName)
		}
		if err := q.Close(); err != nil {
			t.Error(err)
		}
	}
}

// A database migrated by a newer mailgrid is refused rather than misread.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	q, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, SchemaVersion+1)
	if cerr := q.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if q, err := Open(t.Context(), dsn); err == nil {
		t.Error("Open of a newer schema succeeded")
		if err := q.Close(); err != nil {
			t.Error(err)
		}
	}
}
