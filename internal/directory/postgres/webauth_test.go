package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
	"mailgrid/internal/mail"
	"mailgrid/internal/testkit/pgtest"
)

func TestWebAuthConformance(t *testing.T) {
	directorytest.RunWebAuth(t, func(t *testing.T) directory.Directory {
		return open(t, pgtest.DSN(t))
	})
}

// newUser creates domain and one account in it.
func newUser(t *testing.T, d *Directory, domain, addr string) directory.Account {
	t.Helper()
	ctx := t.Context()
	if err := d.CreateDomain(ctx, directory.Domain{Name: domain, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	a, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(addr), Password: directorytest.Password})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A database at schema v3 (before the web tables) is migrated to v4, keeps its accounts,
// and can then store sessions for them.
func TestMigrateFromV3(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := conn.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	for _, q := range []string{
		`CREATE SCHEMA ` + SchemaName, `SET search_path = ` + SchemaName,
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`,
		schemaV1, schemaV2, schemaV3, `INSERT INTO schema_migrations VALUES (1, now()), (2, now()), (3, now())`,
		`INSERT INTO domains (name, enabled, max_message_bytes, max_quota_bytes, max_users, created_at)
			VALUES ('old.example', true, 0, 0, 0, now())`,
		`INSERT INTO accounts (domain, local, addr_key, password_hash, quota_bytes, quota_messages, enabled, role, shard, created_at)
			VALUES ('old.example', 'u', 'u@old.example', 'x', 0, 0, true, 'user', 'local', now())`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	d := open(t, dsn)
	var v int
	if err := d.pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != SchemaVersion {
		t.Fatalf("schema version = %d, %v; want %d", v, err, SchemaVersion)
	}
	accts, err := d.Accounts(ctx, "old.example")
	if err != nil || len(accts) != 1 {
		t.Fatalf("accounts after migration: %+v, %v", accts, err)
	}
	now := time.Now()
	if _, err := d.CreateSession(ctx, directory.WebSession{TokenHash: []byte("h"), AccountID: accts[0].ID,
		Domain: "old.example", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// Two nodes (two pools) present the same TOTP time step at once, several times each:
// exactly one login wins, so a code seen on the wire cannot be replayed through another
// node.
func TestTOTPReplayAcrossNodes(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodes := []*Directory{open(t, dsn), open(t, dsn)}
	u := newUser(t, nodes[0], "a.example", "u@a.example")
	if err := nodes[0].SetTOTP(ctx, u.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].EnableTOTP(ctx, u.ID, 100); err != nil {
		t.Fatal(err)
	}
	for step := int64(101); step < 104; step++ {
		var wg sync.WaitGroup
		wins := make([]bool, 8)
		for i := range wins {
			wg.Go(func() {
				ok, err := nodes[i%2].UseTOTPStep(ctx, u.ID, step)
				if err != nil {
					t.Error(err)
				}
				wins[i] = ok
			})
		}
		wg.Wait()
		n := 0
		for _, w := range wins {
			if w {
				n++
			}
		}
		if n != 1 {
			t.Errorf("step %d: %d of %d uses accepted, want 1", step, n, len(wins))
		}
	}
}

// Deleting a domain (forced) deletes its accounts and with them their credentials; the audit log
// keeps what it recorded. A token hash is stored once (ErrExists for a second account).
func TestWebAuthDomainDelete(t *testing.T) {
	ctx := t.Context()
	d := open(t, pgtest.DSN(t))
	u := newUser(t, d, "gone.example", "u@gone.example")
	v := newUser(t, d, "kept.example", "v@kept.example")
	now := time.Now()
	if _, err := d.CreateSession(ctx, directory.WebSession{TokenHash: []byte("s"), AccountID: u.ID, Domain: u.Address.Domain,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateAPIToken(ctx, directory.APIToken{TokenHash: []byte("t"), AccountID: u.ID, Domain: u.Address.Domain,
		CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateAPIToken(ctx, directory.APIToken{TokenHash: []byte("t"), AccountID: v.ID, Domain: v.Address.Domain,
		CreatedAt: now}); !errors.Is(err, directory.ErrExists) {
		t.Errorf("second token with one hash: %v, want ErrExists", err)
	}
	if _, err := d.AppendAudit(ctx, directory.AuditEntry{Actor: "cli", Via: "cli", Action: "domain.delete",
		Domain: "gone.example", Target: "gone.example"}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteDomain(ctx, "gone.example", true); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := d.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM web_sessions) + (SELECT count(*) FROM api_tokens)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("credentials left after the domain's deletion: %d, %v", left, err)
	}
	if log, err := d.Audit(ctx, directory.AuditQuery{Domains: []string{"gone.example"}}); err != nil || len(log) != 1 || log[0].At.IsZero() {
		t.Errorf("audit after the domain's deletion: %+v, %v", log, err)
	}
}

func TestPlansConformance(t *testing.T) {
	directorytest.RunPlans(t, func(t *testing.T) directory.Directory {
		return open(t, pgtest.DSN(t))
	})
}
