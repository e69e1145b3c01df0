package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
	"mailgrid/internal/mail"
	"mailgrid/internal/testkit/pgtest"
)

func open(t testing.TB, dsn string) *Directory {
	t.Helper()
	d, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directory.Directory {
		return open(t, pgtest.DSN(t))
	})
}

var _ directorytest.PasswordHashSetter = (*Directory)(nil)

// Four nodes open a new database at the same moment: each migration is applied once, all
// tables are in the directory schema, and a reopen finds the schema current.
func TestConcurrentMigration(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	handles := make([]*Directory, 4)
	errs := make([]error, len(handles))
	for i := range handles {
		wg.Go(func() { handles[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, h := range handles {
		if errs[i] != nil {
			t.Fatalf("Open #%d: %v", i, errs[i])
		}
		t.Cleanup(func() {
			if err := h.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	ctx := t.Context()
	var versions []int
	rows, err := handles[0].pool.Query(ctx, `SELECT version FROM directory.schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := appliedVersions(); !slices.Equal(versions, want) {
		t.Errorf("applied versions = %v, want %v (each once)", versions, want)
	}
	var tables []string
	rows, err = handles[1].pool.Query(ctx, `SELECT table_schema || '.' || table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"directory.account_admin_domains", "directory.account_totp", "directory.accounts",
		"directory.alias_targets", "directory.aliases", "directory.api_tokens", "directory.audit_log", "directory.dkim_keys",
		"directory.domain_aliases", "directory.domain_plans", "directory.domain_sso", "directory.domains", "directory.migrations", "directory.nodes",
		"directory.plans", "directory.schema_migrations", "directory.shards", "directory.sms_counts", "directory.sms_rules",
		"directory.sso_nonces", "directory.web_sessions"}
	if !slices.Equal(tables, want) {
		t.Errorf("tables = %v, want %v", tables, want)
	}
	open(t, dsn) // already current
}

// Sessions commit durably and find the directory's tables first.
func TestSessionSettings(t *testing.T) {
	d := open(t, pgtest.DSN(t))
	var sync, path string
	if err := d.pool.QueryRow(t.Context(), `SELECT current_setting('synchronous_commit'), current_setting('search_path')`).Scan(&sync, &path); err != nil {
		t.Fatal(err)
	}
	if sync != "on" || path != SchemaName {
		t.Errorf("synchronous_commit %q search_path %q; want on and %q", sync, path, SchemaName)
	}
}

// A database at schema v2 (before the service switches) is migrated once and keeps its
// rows, which get no disabled services.
func TestMigrateFromV2(t *testing.T) {
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
	hash, err := directory.HashPassword("pw pw pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE SCHEMA ` + SchemaName, `SET search_path = ` + SchemaName,
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`,
		schemaV1, schemaV2, `INSERT INTO schema_migrations VALUES (1, now()), (2, now())`,
		`INSERT INTO domains VALUES ('old.example', true, 0, 0, 0, now())`,
		`INSERT INTO accounts (domain, local, addr_key, password_hash, quota_bytes, quota_messages, enabled, role, shard, created_at)
			VALUES ('old.example', 'u', 'u@old.example', '` + hash + `', 0, 0, true, 'user', 'local', now())`,
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
	dom, err := d.Domain(ctx, "old.example")
	if err != nil || dom.DisabledServices != nil {
		t.Errorf("migrated domain = %+v, %v; want no disabled services", dom, err)
	}
	a, err := d.Authenticate(ctx, "u@old.example", "pw pw pw")
	if err != nil || a.DisabledServices != nil {
		t.Fatalf("migrated account = %+v, %v; want a login, no disabled services", a, err)
	}
	off := []string{directory.ServicePOP3}
	if a, err = d.UpdateAccount(ctx, a.Address, directory.AccountUpdate{DisabledServices: &off}); err != nil || !slices.Equal(a.DisabledServices, off) {
		t.Errorf("UpdateAccount after migration = %q, %v", a.DisabledServices, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	d := open(t, dsn)
	if _, err := d.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if d2, err := Open(t.Context(), dsn); err == nil {
		t.Errorf("Open of a newer schema succeeded")
		if err := d2.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestOpenBadDSN(t *testing.T) {
	if d, err := Open(t.Context(), "postgres://127.0.0.1:1/none?connect_timeout=2"); err == nil {
		t.Error("Open of an unreachable server succeeded")
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}
	if _, err := Open(t.Context(), "not a dsn ://"); err == nil {
		t.Error("Open of a malformed DSN succeeded")
	}
}

// Two nodes (two handles, two pools) race account creation in one domain: MaxUsers holds
// across them, because the limit is checked under the domain row's lock.
func TestMaxUsersAcrossNodes(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	nodes := []*Directory{open(t, dsn), open(t, dsn)}
	const limit, tries = 4, 12
	if err := nodes[0].CreateDomain(ctx, directory.Domain{Name: "race.example", Enabled: true, MaxUsers: limit}); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			_, errs[i] = nodes[i%2].CreateAccount(ctx, directory.NewAccount{
				Address: mail.MustParse(fmt.Sprintf("u%d@race.example", i)), Password: "pw pw pw"})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, directory.ErrLimit) {
			t.Errorf("CreateAccount #%d: %v", i, err)
		}
	}
	for i, h := range nodes {
		all, err := h.Accounts(ctx, "race.example")
		if ok != limit || err != nil || len(all) != limit {
			t.Errorf("node %d: %d created, %d listed (%v); want %d", i, ok, len(all), err, limit)
		}
	}
}

// An account and an alias for one address created at once from two nodes: exactly one
// wins, the other gets ErrExists.
func TestAccountAliasRaceAcrossNodes(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	if err := a.CreateDomain(ctx, directory.Domain{Name: "race.example", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		addr := fmt.Sprintf("x%d@race.example", i)
		var errAcct, errAlias error
		var wg sync.WaitGroup
		wg.Go(func() {
			_, errAcct = a.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(addr), Password: "pw pw pw"})
		})
		wg.Go(func() {
			errAlias = b.CreateAlias(ctx, directory.Alias{Source: addr, Targets: []string{"far@remote.example"}})
		})
		wg.Wait()
		if (errAcct == nil) == (errAlias == nil) {
			t.Fatalf("%s: account %v, alias %v; want exactly one to succeed", addr, errAcct, errAlias)
		}
		if err := errors.Join(errAcct, errAlias); !errors.Is(err, directory.ErrExists) {
			t.Errorf("%s: loser error %v, want ErrExists", addr, err)
		}
	}
}

// A failure inside a transaction leaves nothing behind.
func TestCreateAccountAllOrNothing(t *testing.T) {
	ctx := t.Context()
	d := open(t, pgtest.DSN(t))
	if err := d.CreateDomain(ctx, directory.Domain{Name: "a.example", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	_, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("x@a.example"), Password: "pw pw pw",
		Role: directory.RoleDomainAdmin, AdminDomains: []string{"a.example", "missing.example"}})
	if !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("CreateAccount = %v, want ErrInvalid", err)
	}
	var n int
	if err := d.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM account_admin_domains)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows left after failed CreateAccount: %d, %v", n, err)
	}
}

// An unknown login is verified against the stand-in hash, made at the first
// Authenticate (not at Open), so it costs one real argon2id verification like a known one.
func TestUnknownLoginVerifiesStandIn(t *testing.T) {
	d := open(t, pgtest.DSN(t))
	var hashes []string
	d.verifyPassword = func(hash, pw string) (bool, bool, error) {
		hashes = append(hashes, hash)
		return directory.VerifyPassword(hash, pw)
	}
	for range 2 {
		_, err := d.Authenticate(t.Context(), "nobody@nowhere.example", "pw pw pw")
		if !errors.Is(err, directory.ErrAuthFailed) {
			t.Fatalf("Authenticate(unknown) = %v, want ErrAuthFailed", err)
		}
	}
	if len(hashes) != 2 || !strings.HasPrefix(hashes[0], "$argon2id$") || hashes[1] != hashes[0] {
		t.Errorf("unknown logins verified against %q, want the same argon2id stand-in twice", hashes)
	}
}

// With every hashing slot taken, a cancelled context gives up instead of waiting.
func TestHashSlotsRespectContext(t *testing.T) {
	d := open(t, pgtest.DSN(t))
	for range cap(d.hashSlots) {
		d.hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("u@a.example"), Password: "pw pw pw"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CreateAccount with all slots busy and a cancelled context = %v, want context.Canceled", err)
	}
	for range cap(d.hashSlots) {
		<-d.hashSlots
	}
}

func BenchmarkResolve(b *testing.B) {
	ctx := b.Context()
	d := open(b, pgtest.DSN(b))
	if err := d.CreateDomain(ctx, directory.Domain{Name: "a.example", Enabled: true}); err != nil {
		b.Fatal(err)
	}
	for _, u := range []string{"bob", "carol"} {
		if _, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(u + "@a.example"), Password: "pw pw pw"}); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.CreateAlias(ctx, directory.Alias{Source: "team@a.example", Targets: []string{"bob@a.example", "carol@a.example", "x@remote.example"}}); err != nil {
		b.Fatal(err)
	}
	for _, rcpt := range []string{"bob+tag@a.example", "team@a.example"} {
		b.Run(rcpt, func(b *testing.B) {
			addr := mail.MustParse(rcpt)
			for b.Loop() {
				if _, err := d.Resolve(ctx, addr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolves/s")
		})
	}
}

// appliedVersions is 1 .. SchemaVersion, each once.
func appliedVersions() []int {
	out := make([]int, SchemaVersion)
	for i := range out {
		out[i] = i + 1
	}
	return out
}
