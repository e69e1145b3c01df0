package directorytest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// RunWebAuth is the conformance suite of the optional add-ons directory.WebAuthStore and
// directory.AuditLog. open must return a new, empty directory implementing both.
func RunWebAuth(t *testing.T, open func(t *testing.T) directory.Directory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, d directory.Directory, w directory.WebAuthStore)
	}{
		{"Sessions", testSessions},
		{"SessionsCascade", testSessionsCascade},
		{"APITokens", testAPITokens},
		{"TOTP", testTOTP},
		{"TOTPReplayConcurrent", testTOTPReplayConcurrent},
		{"Audit", testAudit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := open(t)
			w, ok := d.(directory.WebAuthStore)
			if !ok {
				t.Fatalf("%T does not implement directory.WebAuthStore", d)
			}
			c.fn(t, d, w)
		})
	}
}

// twoAccounts creates a.example with accounts u1 and u2.
func twoAccounts(t *testing.T, d directory.Directory) (directory.Account, directory.Account) {
	t.Helper()
	ctx := context.Background()
	if err := d.CreateDomain(ctx, directory.Domain{Name: "a.example", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var out [2]directory.Account
	for i := range out {
		a, err := d.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(fmt.Sprintf("u%d@a.example", i+1)), Password: Password})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a
	}
	return out[0], out[1]
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testSessions(t *testing.T, d directory.Directory, w directory.WebAuthStore) {
	ctx := context.Background()
	u1, u2 := twoAccounts(t, d)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(a directory.Account, secret string, ttl time.Duration) directory.WebSession {
		s, err := w.CreateSession(ctx, directory.WebSession{TokenHash: hashOf(secret), AccountID: a.ID, Domain: a.Address.Domain,
			AuthHash: []byte{1, 2}, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ttl), RemoteAddr: "192.0.2.1", UserAgent: "t"})
		if err != nil || s.ID == 0 {
			t.Fatalf("CreateSession: %+v, %v", s, err)
		}
		return s
	}
	s1 := mk(u1, "one", time.Hour)
	s2 := mk(u1, "two", time.Hour)
	s3 := mk(u2, "three", time.Hour)
	if _, err := w.CreateSession(ctx, directory.WebSession{TokenHash: hashOf("x"), AccountID: u1.ID, Domain: "other.example",
		ExpiresAt: now.Add(time.Hour)}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("CreateSession with a wrong domain: %v, want ErrNotFound", err)
	}
	got, err := w.SessionByToken(ctx, hashOf("one"), now)
	if err != nil || got.ID != s1.ID || got.AccountID != u1.ID || got.Domain != "a.example" || !got.ExpiresAt.Equal(now.Add(time.Hour)) ||
		string(got.AuthHash) != "\x01\x02" || got.RemoteAddr != "192.0.2.1" {
		t.Fatalf("SessionByToken = %+v, %v", got, err)
	}
	if _, err := w.SessionByToken(ctx, hashOf("one"), now.Add(time.Hour)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("expired session found: %v", err)
	}
	if err := w.TouchSession(ctx, s1.ID, now.Add(time.Minute), now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.SessionByToken(ctx, hashOf("one"), now.Add(90*time.Minute)); err != nil {
		t.Errorf("touched session not found: %v", err)
	}
	if list, err := w.Sessions(ctx, u1.ID, now); err != nil || len(list) != 2 || list[0].ID != s2.ID {
		t.Errorf("Sessions(u1) = %+v, %v; want s2, s1", list, err)
	}
	if err := w.DeleteSession(ctx, u1.ID, s3.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("DeleteSession of another account's session: %v, want ErrNotFound", err)
	}
	if n, err := w.DeleteSessions(ctx, u1.ID, s2.ID); err != nil || n != 1 {
		t.Errorf("DeleteSessions(except s2) = %d, %v", n, err)
	}
	if _, err := w.SessionByToken(ctx, hashOf("two"), now); err != nil {
		t.Errorf("kept session gone: %v", err)
	}
	if err := w.DeleteSession(ctx, u1.ID, s2.ID); err != nil {
		t.Error(err)
	}
	if _, err := w.SessionByToken(ctx, hashOf("three"), now); err != nil {
		t.Errorf("u2's session gone: %v", err)
	}
	mk(u2, "short", time.Second)
	if n, err := w.PurgeSessions(ctx, now.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("PurgeSessions = %d, %v; want 1", n, err)
	}
}

func testSessionsCascade(t *testing.T, d directory.Directory, w directory.WebAuthStore) {
	ctx := context.Background()
	u1, _ := twoAccounts(t, d)
	now := time.Now()
	if _, err := w.CreateSession(ctx, directory.WebSession{TokenHash: hashOf("s"), AccountID: u1.ID, Domain: u1.Address.Domain,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateAPIToken(ctx, directory.APIToken{TokenHash: hashOf("t"), AccountID: u1.ID, Domain: u1.Address.Domain, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTOTP(ctx, u1.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteAccount(ctx, u1.Address); err != nil {
		t.Fatal(err)
	}
	// A new account at the same address gets a new ID and inherits nothing.
	again, err := d.CreateAccount(ctx, directory.NewAccount{Address: u1.Address, Password: Password})
	if err != nil || again.ID == u1.ID {
		t.Fatalf("recreate: %+v, %v", again, err)
	}
	if _, err := w.SessionByToken(ctx, hashOf("s"), now); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("session survived its account: %v", err)
	}
	if _, err := w.APITokenByHash(ctx, hashOf("t"), now); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("token survived its account: %v", err)
	}
	if _, err := w.TOTP(ctx, again.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("TOTP inherited: %v", err)
	}
}

func testAPITokens(t *testing.T, d directory.Directory, w directory.WebAuthStore) {
	ctx := context.Background()
	u1, u2 := twoAccounts(t, d)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	t1, err := w.CreateAPIToken(ctx, directory.APIToken{TokenHash: hashOf("t1"), AccountID: u1.ID, Domain: "a.example",
		Name: "billing", Scopes: []string{"admin:read", "self:read"}, CreatedAt: now})
	if err != nil || t1.ID == 0 {
		t.Fatal(t1, err)
	}
	t2, err := w.CreateAPIToken(ctx, directory.APIToken{TokenHash: hashOf("t2"), AccountID: u1.ID, Domain: "a.example",
		Name: "short", CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateAPIToken(ctx, directory.APIToken{TokenHash: hashOf("t3"), AccountID: u1.ID, Domain: "a.example",
		Scopes: []string{"a,b"}}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("scope with a comma: %v, want ErrInvalid", err)
	}
	got, err := w.APITokenByHash(ctx, hashOf("t1"), now.Add(1000*time.Hour))
	if err != nil || got.ID != t1.ID || got.Name != "billing" || len(got.Scopes) != 2 || got.Scopes[1] != "self:read" ||
		!got.ExpiresAt.IsZero() || !got.LastUsedAt.IsZero() {
		t.Fatalf("APITokenByHash = %+v, %v", got, err)
	}
	if _, err := w.APITokenByHash(ctx, hashOf("t2"), now.Add(time.Hour)); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("expired token found: %v", err)
	}
	if err := w.TouchAPIToken(ctx, t1.ID, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, err := w.APITokens(ctx, u1.ID)
	if err != nil || len(list) != 2 || list[0].ID != t2.ID || !list[1].LastUsedAt.Equal(now.Add(time.Minute)) {
		t.Errorf("APITokens = %+v, %v", list, err)
	}
	if err := w.DeleteAPIToken(ctx, u2.ID, t1.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete another account's token: %v, want ErrNotFound", err)
	}
	if err := w.DeleteAPIToken(ctx, u1.ID, t1.ID); err != nil {
		t.Error(err)
	}
	if _, err := w.APITokenByHash(ctx, hashOf("t1"), now); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("deleted token found: %v", err)
	}
}

func testTOTP(t *testing.T, d directory.Directory, w directory.WebAuthStore) {
	ctx := context.Background()
	u1, _ := twoAccounts(t, d)
	if _, err := w.TOTP(ctx, u1.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("TOTP before enrolment: %v", err)
	}
	if ok, err := w.UseTOTPStep(ctx, u1.ID, 5); ok || err != nil {
		t.Errorf("UseTOTPStep without TOTP = %v, %v", ok, err)
	}
	if err := w.SetTOTP(ctx, u1.ID, "AAAA"); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTOTP(ctx, u1.ID, "BBBB"); err != nil {
		t.Fatalf("replacing a pending secret: %v", err)
	}
	if ok, err := w.UseTOTPStep(ctx, u1.ID, 5); ok || err != nil {
		t.Errorf("UseTOTPStep on a pending secret = %v, %v", ok, err)
	}
	if err := w.EnableTOTP(ctx, u1.ID, 10); err != nil {
		t.Fatal(err)
	}
	if s, err := w.TOTP(ctx, u1.ID); err != nil || s != (directory.TOTPState{Secret: "BBBB", Enabled: true, LastStep: 10}) {
		t.Errorf("TOTP = %+v, %v", s, err)
	}
	if err := w.SetTOTP(ctx, u1.ID, "CCCC"); !errors.Is(err, directory.ErrExists) {
		t.Errorf("SetTOTP over an enabled secret: %v, want ErrExists", err)
	}
	if err := w.EnableTOTP(ctx, u1.ID, 11); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("EnableTOTP twice: %v, want ErrNotFound", err)
	}
	for _, c := range []struct {
		step int64
		ok   bool
	}{{10, false}, {9, false}, {11, true}, {11, false}, {13, true}} {
		if ok, err := w.UseTOTPStep(ctx, u1.ID, c.step); ok != c.ok || err != nil {
			t.Errorf("UseTOTPStep(%d) = %v, %v; want %v", c.step, ok, err, c.ok)
		}
	}
	if err := w.DeleteTOTP(ctx, u1.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteTOTP(ctx, u1.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("DeleteTOTP twice: %v", err)
	}
	if err := w.SetTOTP(ctx, 1<<40, "AAAA"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("SetTOTP for an unknown account: %v", err)
	}
}

// Eight concurrent uses of one step: exactly one succeeds.
func testTOTPReplayConcurrent(t *testing.T, d directory.Directory, w directory.WebAuthStore) {
	ctx := context.Background()
	u1, _ := twoAccounts(t, d)
	if err := w.SetTOTP(ctx, u1.ID, "AAAA"); err != nil {
		t.Fatal(err)
	}
	if err := w.EnableTOTP(ctx, u1.ID, 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			ok, err := w.UseTOTPStep(ctx, u1.ID, 2)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent uses of one step succeeded, want 1", wins)
	}
}

func testAudit(t *testing.T, d directory.Directory, _ directory.WebAuthStore) {
	ctx := context.Background()
	al, ok := d.(directory.AuditLog)
	if !ok {
		t.Fatalf("%T does not implement directory.AuditLog", d)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	entries := []directory.AuditEntry{
		{Actor: "root@h", ActorID: 1, Role: directory.RoleSystemAdmin, Via: "api", Action: "domain.create", Domain: "a.example", Target: "a.example"},
		{Actor: "adm@a.example", ActorID: 2, Role: directory.RoleDomainAdmin, Via: "console", Remote: "192.0.2.7", Action: "account.create", Domain: "a.example", Target: "u@a.example", Detail: "quota 1G"},
		{Actor: "cli", Via: "cli", Action: "account.delete", Domain: "b.example", Target: "x@b.example"},
		{Actor: "adm@a.example", ActorID: 2, Via: "api", Action: "accounts.weird", Domain: "a.example", Target: "z"},
	}
	for i, e := range entries {
		e.At = at.Add(time.Duration(i) * time.Minute)
		got, err := al.AppendAudit(ctx, e)
		if err != nil || got.ID == 0 {
			t.Fatalf("AppendAudit: %+v, %v", got, err)
		}
	}
	if _, err := al.AppendAudit(ctx, directory.AuditEntry{Actor: "x"}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("entry without action: %v", err)
	}
	count := func(q directory.AuditQuery) []string {
		t.Helper()
		got, err := al.Audit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got {
			out = append(out, e.Target)
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    directory.AuditQuery
		want string
	}{
		{"all newest first", directory.AuditQuery{}, "[z x@b.example u@a.example a.example]"},
		{"tenant", directory.AuditQuery{Domains: []string{"a.example"}}, "[z u@a.example a.example]"},
		{"no tenant", directory.AuditQuery{Domains: []string{}}, "[]"},
		{"actor", directory.AuditQuery{ActorID: 2}, "[z u@a.example]"},
		{"action prefix", directory.AuditQuery{Action: "account."}, "[x@b.example u@a.example]"},
		{"action exact", directory.AuditQuery{Action: "domain.create"}, "[a.example]"},
		{"text", directory.AuditQuery{Text: "QUOTA"}, "[u@a.example]"},
		{"since", directory.AuditQuery{Since: at.Add(2 * time.Minute)}, "[z x@b.example]"},
		{"limit", directory.AuditQuery{Limit: 1}, "[z]"},
		{"target", directory.AuditQuery{Target: "a.example"}, "[a.example]"},
	} {
		if got := fmt.Sprint(count(c.q)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	page, err := al.Audit(ctx, directory.AuditQuery{Limit: 2})
	if err != nil || len(page) != 2 {
		t.Fatal(page, err)
	}
	if got := fmt.Sprint(count(directory.AuditQuery{BeforeID: page[1].ID})); got != "[u@a.example a.example]" {
		t.Errorf("next page: %s", got)
	}
	all, err := al.Audit(ctx, directory.AuditQuery{Target: "u@a.example"})
	if err != nil || len(all) != 1 || all[0].Remote != "192.0.2.7" || all[0].Role != directory.RoleDomainAdmin ||
		!all[0].At.Equal(at.Add(time.Minute)) || all[0].Via != "console" || all[0].Detail != "quota 1G" {
		t.Errorf("entry round trip: %+v, %v", all, err)
	}
}
