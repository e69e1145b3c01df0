package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
)

// A domain's SSO secret: its administrators read it (generated on first read), rotate
// and set it; another domain's administrator and a user cannot see it; the audit log
// records the changes without the secret.
func TestSSOSecretRoles(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys, da := f.svc.As(f.sys), f.svc.As(f.daA)
	user := f.svc.As(admin.Actor{Account: f.userA, Via: "api"})

	s1, err := da.SSOSecret(ctx, "a.example", false)
	if err != nil || len(s1) != 64 {
		t.Fatalf("first read generates: %q %v", s1, err)
	}
	if again, err := sys.SSOSecret(ctx, "a.example", false); err != nil || again != s1 {
		t.Fatalf("second read = %q, %v; want the same", again, err)
	}
	s2, err := da.SSOSecret(ctx, "a.example", true)
	if err != nil || s2 == s1 || len(s2) != 64 {
		t.Fatalf("rotate: %q %v", s2, err)
	}
	for name, sc := range map[string]*admin.Scoped{"domain admin of A on B": da, "user": user} {
		dom := "b.example"
		if name == "user" {
			dom = "a.example"
		}
		if _, err := sc.SSOSecret(ctx, dom, false); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("%s reads: %v", name, err)
		}
		if err := sc.SetSSOSecret(ctx, dom, "0123456789abcdef0123456789abcdef"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("%s sets: %v", name, err)
		}
	}
	if err := da.SetSSOSecret(ctx, "a.example", "short"); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("short secret: %v", err)
	}
	if got, _ := sys.SSOSecret(ctx, "a.example", false); got != s2 {
		t.Fatal("a refused set changed the secret")
	}
	if err := da.SetSSOSecret(ctx, "a.example", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Dir.(directory.SSOSecretStore).SSOSecret(ctx, "a.example"); got != "" {
		t.Fatal("removed secret still there")
	}
	log, err := f.svc.Dir.(directory.AuditLog).Audit(ctx, directory.AuditQuery{Domains: []string{"a.example"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range log {
		seen[e.Action] = true
		if e.Detail == s1 || e.Detail == s2 {
			t.Fatalf("the audit log holds a secret: %+v", e)
		}
	}
	for _, a := range []string{"domain.sso_secret.create", "domain.sso_secret.rotate", "domain.sso_secret.remove"} {
		if !seen[a] {
			t.Errorf("audit lacks %s: %v", a, seen)
		}
	}
	if _, err := da.SMSCounts(ctx, "", time.Time{}); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("domain admin reads every domain's SMS counts: %v", err)
	}
	if _, err := da.SMSCounts(ctx, "b.example", time.Time{}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("domain admin reads B's SMS counts: %v", err)
	}
}
