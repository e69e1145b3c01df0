package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
	"mailgrid/internal/mail"
)

func openTemp(t *testing.T, path string) *Directory {
	t.Helper()
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
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
		return openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	})
}

var _ directorytest.PasswordHashSetter = (*Directory)(nil)

// The file is WAL, synchronous=FULL, foreign keys on, at the current schema version; and
// what was committed is there after reopening.
func TestReopenAndPragmas(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dir.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateDomain(ctx, directory.Domain{Name: "bücher.example", Enabled: true, MaxUsers: 5}); err != nil {
		t.Fatal(err)
	}
	a, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("Élodie@bücher.example"), Password: "pw one two"})
	if err != nil {
		t.Fatal(err)
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"user_version": fmt.Sprint(SchemaVersion), "busy_timeout": "10000"} {
		var got string
		if err := d.w.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	var qo int
	if err := d.r.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Errorf("read pool query_only = %d, %v", qo, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := openTemp(t, path)
	got, err := d2.Authenticate(ctx, "élodie@xn--bcher-kva.example", "pw one two")
	if err != nil || got.ID != a.ID || got.Address.Local != "Élodie" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

// A file written by schema v1 (before the service switches) opens, is migrated once, and
// keeps its rows, which get no disabled services.
func TestMigrateFromV1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dir.db")
	old, err := openPool(ctx, path, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := directory.HashPassword("pw pw pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{schemaV1, `PRAGMA user_version = 1`,
		`INSERT INTO domains VALUES ('old.example', 1, 0, 0, 0, 0)`,
		`INSERT INTO accounts (domain, local, addr_key, password_hash, quota_bytes, quota_messages, enabled, role, shard, created_at)
			VALUES ('old.example', 'u', 'u@old.example', '` + hash + `', 0, 0, 1, 'user', 'local', 0)`,
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
	path := filepath.Join(t.TempDir(), "dir.db")
	d := openTemp(t, path)
	if _, err := d.w.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	if d2, err := Open(t.Context(), path); err == nil {
		t.Errorf("Open of a newer schema succeeded")
		if err := d2.Close(); err != nil {
			t.Error(err)
		}
	}
}

// Two handles on one file (the CLI beside the running server) open a new file at once and
// then race account creation: the schema is applied once and MaxUsers holds across them.
func TestTwoHandlesOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dir.db")
	var handles [2]*Directory
	var wg sync.WaitGroup
	for i := range handles {
		wg.Go(func() { handles[i] = openTemp(t, path) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	const limit, tries = 4, 12
	if err := handles[0].CreateDomain(ctx, directory.Domain{Name: "race.example", Enabled: true, MaxUsers: limit}); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			_, errs[i] = handles[i%2].CreateAccount(ctx, directory.NewAccount{
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
	for i, h := range handles {
		all, err := h.Accounts(ctx, "race.example")
		if ok != limit || err != nil || len(all) != limit {
			t.Errorf("handle %d: %d created, %d listed (%v); want %d", i, ok, len(all), err, limit)
		}
	}
}

// A failure inside a transaction leaves nothing behind: the account row is not created
// when a later step (its admin domains) fails.
func TestCreateAccountAllOrNothing(t *testing.T) {
	ctx := t.Context()
	d := openTemp(t, filepath.Join(t.TempDir(), "dir.db"))
	if err := d.CreateDomain(ctx, directory.Domain{Name: "a.example", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	_, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("x@a.example"), Password: "pw pw pw",
		Role: directory.RoleDomainAdmin, AdminDomains: []string{"a.example", "missing.example"}})
	if !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("CreateAccount = %v, want ErrInvalid", err)
	}
	var n int
	if err := d.w.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM account_admin_domains)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows left after failed CreateAccount: %d, %v", n, err)
	}
}

// The hash bound is honoured: with every hashing slot taken, a cancelled context gives up
// instead of waiting.
func TestHashSlotsRespectContext(t *testing.T) {
	d := openTemp(t, filepath.Join(t.TempDir(), "dir.db"))
	for range cap(d.hashSlots) {
		d.hashSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// CreateAccount hashes before it touches the database.
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
	d, err := Open(ctx, filepath.Join(b.TempDir(), "dir.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			b.Error(err)
		}
	}()
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
		})
	}
}

// Open makes no password hash (the stand-in for unknown logins is made at the first
// Authenticate): an argon2id hash allocates 19 MiB, which Open must not.
func TestOpenMakesNoHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "directory.db")
	openTemp(t, path).Close() // the schema exists: the measured Open only opens
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	openTemp(t, path)
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("Open allocated %d MiB: a password hash", grew>>20)
	}
}

// An unknown login is verified against the stand-in hash, made at the first
// Authenticate, so it costs one real argon2id verification like a known one.
func TestUnknownLoginVerifiesStandIn(t *testing.T) {
	d := openTemp(t, filepath.Join(t.TempDir(), "directory.db"))
	var hashes []string
	d.verifyPassword = func(hash, pw string) (bool, bool, error) {
		hashes = append(hashes, hash)
		return directory.VerifyPassword(hash, pw)
	}
	for range 2 {
		if _, err := d.Authenticate(t.Context(), "nobody@nowhere.example", "pw pw pw"); !errors.Is(err, directory.ErrAuthFailed) {
			t.Fatalf("Authenticate(unknown) = %v, want ErrAuthFailed", err)
		}
	}
	if len(hashes) != 2 || !strings.HasPrefix(hashes[0], "$argon2id$") || hashes[1] != hashes[0] {
		t.Errorf("unknown logins verified against %q, want the same argon2id stand-in twice", hashes)
	}
}
