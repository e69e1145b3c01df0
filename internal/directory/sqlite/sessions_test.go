package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
)

func TestWebAuthConformance(t *testing.T) {
	directorytest.RunWebAuth(t, func(t *testing.T) directory.Directory {
		return openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}

// A file at schema v2 (before the web tables) is migrated to the current version, keeps its accounts, and
// can then store sessions for them.
func TestMigrateFromV2(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dir.db")
	old, err := openPool(ctx, path, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1, schemaV2, `PRAGMA user_version = 2`,
		`INSERT INTO domains VALUES ('old.example', 1, 0, 0, 0, 0, '')`,
		`INSERT INTO accounts (domain, local, addr_key, password_hash, quota_bytes, quota_messages, enabled, role, shard, created_at)
			VALUES ('old.example', 'u', 'u@old.example', 'x', 0, 0, 1, 'user', 'local', 0)`,
	} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	d := openTemp(t, path)
	var v int
	if err := d.w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("user_version = %d, %v; want %d", v, err, SchemaVersion)
	}
	accts, err := d.Accounts(ctx, "old.example")
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts after migration: %+v, %v", accts, err)
	}
	now := time.Now()
	if _, err := d.CreateSession(ctx, directory.WebSession{TokenHash: []byte("h"), AccountID: accts[0].ID, Domain: "old.example",
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func TestPlansConformance(t *testing.T) {
	directorytest.RunPlans(t, func(t *testing.T) directory.Directory {
		return openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}
