package sqlite

import (
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/directory/directorytest"
	"mailgrid/internal/mail"
)

// countingDir opens a directory whose password verifications are counted.
func countingDir(t testing.TB, opts ...Option) (*Directory, *atomic.Int64) {
	d, err := Open(t.Context(), filepath.Join(t.TempDir(), "directory.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	var n atomic.Int64
	d.verifyPassword = func(hash, pw string) (bool, bool, error) {
		n.Add(1)
		return directory.VerifyPassword(hash, pw)
	}
	if err := d.CreateDomain(t.Context(), directory.Domain{Name: "a.example", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"u@a.example", "v@a.example"} {
		if _, err := d.CreateAccount(t.Context(), directory.NewAccount{Address: mail.MustParse(u), Password: directorytest.Password}); err != nil {
			t.Fatal(err)
		}
	}
	return d, &n
}

// wantLogin authenticates and checks the error and how many verifications it cost.
func wantLogin(t *testing.T, d *Directory, n *atomic.Int64, login, pw string, wantErr error, wantHashes int64) {
	t.Helper()
	before := n.Load()
	_, err := d.Authenticate(t.Context(), login, pw)
	if wantErr == nil && err != nil || wantErr != nil && !errors.Is(err, wantErr) {
		t.Errorf("Authenticate(%s, %.3q...) = %v; want %v", login, pw, err, wantErr)
	}
	if got := n.Load() - before; got != wantHashes {
		t.Errorf("Authenticate(%s, %.3q...) verified %d times; want %d", login, pw, got, wantHashes)
	}
}

func TestAuthCacheSkipsHash(t *testing.T) {
	d, n := countingDir(t)
	pw := directorytest.Password
	wantLogin(t, d, n, "u@a.example", pw, nil, 1)
	wantLogin(t, d, n, "U@A.example", pw, nil, 0) // any spelling of the login: same account
	wantLogin(t, d, n, "v@a.example", pw, nil, 1) // another account with the same password
	// Wrong passwords are verified every time and never cached.
	for range 3 {
		wantLogin(t, d, n, "u@a.example", pw+"x", directory.ErrAuthFailed, 1)
	}
	wantLogin(t, d, n, "nobody@a.example", pw, directory.ErrAuthFailed, 1)

	ctx, addr := t.Context(), mail.MustParse("u@a.example")
	off, on := false, true
	if _, err := d.UpdateAccount(ctx, addr, directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, d, n, "u@a.example", pw, directory.ErrDisabled, 0)
	if _, err := d.UpdateAccount(ctx, addr, directory.AccountUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, d, n, "u@a.example", pw, nil, 0)

	const next = "another password entirely"
	if _, err := d.UpdateAccount(ctx, addr, directory.AccountUpdate{Password: ptr(next)}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, d, n, "u@a.example", pw, directory.ErrAuthFailed, 1)
	wantLogin(t, d, n, "u@a.example", next, nil, 1)
	wantLogin(t, d, n, "u@a.example", next, nil, 0)

	if err := d.DeleteAccount(ctx, addr); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, d, n, "u@a.example", next, directory.ErrAuthFailed, 1)
	if _, err := d.CreateAccount(ctx, directory.NewAccount{Address: addr, Password: next}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, d, n, "u@a.example", next, nil, 1) // a new account, a new hash: verified again
}

// A disabled account's right password is not cached: nothing is cached but successes.
func TestAuthCacheOnlySuccess(t *testing.T) {
	d, n := countingDir(t)
	off, on := false, true
	addr := mail.MustParse("u@a.example")
	if _, err := d.UpdateAccount(t.Context(), addr, directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, d, n, "u@a.example", directorytest.Password, directory.ErrDisabled, 1)
	wantLogin(t, d, n, "u@a.example", directorytest.Password, directory.ErrDisabled, 1)
	if _, err := d.UpdateAccount(t.Context(), addr, directory.AccountUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	wantLogin(t, d, n, "u@a.example", directorytest.Password, nil, 1)
}

func TestAuthCacheOff(t *testing.T) {
	d, n := countingDir(t, WithAuthCache(nil))
	for range 2 {
		wantLogin(t, d, n, "u@a.example", directorytest.Password, nil, 1)
	}
}

// The cache expires entries: a login after the TTL verifies again.
func TestAuthCacheExpiry(t *testing.T) {
	var mu sync.Mutex
	at := time.Unix(1e9, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	d, n := countingDir(t, WithAuthCache(directory.NewAuthCache(10, time.Minute, now)))
	wantLogin(t, d, n, "u@a.example", directorytest.Password, nil, 1)
	wantLogin(t, d, n, "u@a.example", directorytest.Password, nil, 0)
	mu.Lock()
	at = at.Add(time.Minute)
	mu.Unlock()
	wantLogin(t, d, n, "u@a.example", directorytest.Password, nil, 1)
}

// Concurrent logins, right and wrong, while the password changes (run with -race): a wrong
// password never succeeds and the old password never succeeds after the change returned.
func TestAuthCacheConcurrentLogins(t *testing.T) {
	d, _ := countingDir(t)
	ctx, pw := t.Context(), directorytest.Password
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 10 {
				login := []string{"u@a.example", "v@a.example"}[g%2]
				if _, err := d.Authenticate(ctx, login, pw+"x"); !errors.Is(err, directory.ErrAuthFailed) {
					t.Errorf("wrong password: %v", err)
				}
				if _, err := d.Authenticate(ctx, login, pw); err != nil && login == "v@a.example" {
					t.Errorf("right password: %v", err)
				}
			}
		})
	}
	const next = "the changed password"
	if _, err := d.UpdateAccount(ctx, mail.MustParse("u@a.example"), directory.AccountUpdate{Password: ptr(next)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "u@a.example", pw); !errors.Is(err, directory.ErrAuthFailed) {
		t.Errorf("old password after the change: %v", err)
	}
	wg.Wait()
}

func ptr[T any](v T) *T { return &v }

// BenchmarkAuthenticate measures logins/s of one account with the right password, with the
// auth cache (default) and without it.
func BenchmarkAuthenticate(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []Option
	}{{"cache", nil}, {"nocache", []Option{WithAuthCache(nil)}}} {
		b.Run(bc.name, func(b *testing.B) {
			d, _ := countingDir(b, bc.opts...)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := d.Authenticate(b.Context(), "u@a.example", directorytest.Password); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}
