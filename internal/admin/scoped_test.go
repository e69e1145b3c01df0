package admin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

type fixture struct {
	env            *deliverytest.Env
	svc            *admin.Service
	sys, daA       admin.Actor
	userA, userA2  directory.Account
	userB          directory.Account
	domainAdminOfA directory.Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "a.example", 0, 1<<30)
	e.Domain(t, "b.example", 0, 0)
	f := &fixture{env: e, svc: &admin.Service{Dir: e.Dir, Shards: e.Shards}}
	ctx := context.Background()
	da, err := e.Dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("da@a.example"), Password: "da password",
		Role: directory.RoleDomainAdmin})
	if err != nil {
		t.Fatal(err)
	}
	f.domainAdminOfA = da
	f.userA = e.Account(t, "u1@a.example", "user password", 0)
	f.userA2 = e.Account(t, "u2@a.example", "user password", 0)
	f.userB = e.Account(t, "u1@b.example", "user password", 0)
	f.sys = admin.SystemActor("cli")
	f.daA = admin.Actor{Account: da, Via: "api", Remote: "192.0.2.9"}
	return f
}

func TestScopedDomainsAndIsolation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	da := f.svc.As(f.daA)
	doms, err := da.Domains(ctx)
	if err != nil || len(doms) != 1 || doms[0].Name != "a.example" {
		t.Fatalf("domain admin's domains = %+v, %v", doms, err)
	}
	if _, err := da.Domain(ctx, "B.EXAMPLE"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("domain B: %v, want ErrNotFound", err)
	}
	if _, err := da.Account(ctx, "b.example", f.userB.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("B's account: %v", err)
	}
	// B's id asked for under A's name: the directory refuses cross-tenant reads by id.
	if _, err := da.Account(ctx, "a.example", f.userB.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("B's id under A: %v", err)
	}
	if _, err := da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{}); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("domain admin updates its domain: %v, want ErrForbidden", err)
	}
	if err := da.DeleteAccount(ctx, "b.example", f.userB.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete B's account: %v", err)
	}
	if _, err := da.CreateAlias(ctx, "a.example", "x@b.example", []string{"u1@a.example"}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("alias source outside the domain: %v", err)
	}
	if err := da.DeleteAlias(ctx, "b.example", "x@b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete alias of B: %v", err)
	}
	if _, err := f.env.Dir.Account(ctx, f.userB.Address); err != nil {
		t.Errorf("B's account changed: %v", err)
	}
}

func TestScopedSelfPasswordAndRevocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ss := directory.WebAuthStore(f.env.Dir)
	now := time.Now()
	for _, secret := range []string{"s1", "s2"} {
		if _, err := ss.CreateSession(ctx, directory.WebSession{TokenHash: []byte(secret), AccountID: f.userA.ID, Domain: "a.example",
			CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	user := f.svc.As(admin.Actor{Account: f.userA, Via: "api"})
	pw := "brand new password"
	if _, err := user.UpdateAccount(ctx, "a.example", f.userA.ID, directory.AccountUpdate{Password: &pw}, "wrong"); !errors.Is(err, admin.ErrWrongPassword) {
		t.Fatalf("wrong current password: %v", err)
	}
	if list, _ := ss.Sessions(ctx, f.userA.ID, now); len(list) != 2 {
		t.Fatalf("a refused change ended sessions: %d left", len(list))
	}
	q := int64(1)
	if _, err := user.UpdateAccount(ctx, "a.example", f.userA.ID, directory.AccountUpdate{Password: &pw, QuotaBytes: &q}, "user password"); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("password with quota: %v", err)
	}
	if _, err := f.env.Dir.Authenticate(ctx, "u1@a.example", "user password"); err != nil {
		t.Fatalf("refused update changed the password: %v", err)
	}
	if _, err := user.UpdateAccount(ctx, "a.example", f.userA.ID, directory.AccountUpdate{Password: &pw}, "user password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Dir.Authenticate(ctx, "u1@a.example", pw); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if list, _ := ss.Sessions(ctx, f.userA.ID, now); len(list) != 0 {
		t.Errorf("%d sessions survived the password change", len(list))
	}
	// An administrator's reset needs no current password and also ends sessions.
	if _, err := ss.CreateSession(ctx, directory.WebSession{TokenHash: []byte("s3"), AccountID: f.userA.ID, Domain: "a.example",
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	no := false
	if _, err := f.svc.As(f.daA).UpdateAccount(ctx, "a.example", f.userA.ID, directory.AccountUpdate{Enabled: &no}, ""); err != nil {
		t.Fatal(err)
	}
	if list, _ := ss.Sessions(ctx, f.userA.ID, now); len(list) != 0 {
		t.Errorf("%d sessions survived disabling", len(list))
	}
}

func TestScopedAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	da := f.svc.As(f.daA)
	a, err := da.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("new@a.example"), Password: "pw pw pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.As(f.sys).CreateDomain(ctx, directory.Domain{Name: "c.example"}); err != nil {
		t.Fatal(err)
	}
	q := int64(1000)
	if _, err := da.UpdateAccount(ctx, "a.example", a.ID, directory.AccountUpdate{QuotaBytes: &q}, ""); err != nil {
		t.Fatal(err)
	}
	mine, err := da.Audit(ctx, directory.AuditQuery{})
	if err != nil || len(mine) != 2 {
		t.Fatalf("domain admin's audit view = %+v, %v; want its 2 entries", mine, err)
	}
	e := mine[0]
	if e.Action != "account.update" || e.Actor != "da@a.example" || e.Role != directory.RoleDomainAdmin || e.Via != "api" ||
		e.Remote != "192.0.2.9" || e.Target != "new@a.example" || e.Detail != "quota_bytes=1000" || e.At.IsZero() {
		t.Errorf("entry = %+v", e)
	}
	all, err := f.svc.As(f.sys).Audit(ctx, directory.AuditQuery{})
	if err != nil || len(all) != 3 || all[1].Action != "domain.create" || all[1].Actor != "cli" {
		t.Errorf("system view = %+v, %v", all, err)
	}
	if other, err := da.Audit(ctx, directory.AuditQuery{Domains: []string{"c.example"}}); err != nil || len(other) != 0 {
		t.Errorf("domain admin asked for another tenant's entries: %+v, %v", other, err)
	}
	if u, err := f.svc.As(admin.Actor{Account: f.userA}).Audit(ctx, directory.AuditQuery{}); err != nil || len(u) != 0 {
		t.Errorf("user's view = %+v, %v", u, err)
	}
}

// The password never appears in the audit log.
func TestAuditHoldsNoSecret(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pw := "s3cret-value-xyz"
	if _, err := f.svc.As(f.daA).UpdateAccount(ctx, "a.example", f.userA.ID, directory.AccountUpdate{Password: &pw}, ""); err != nil {
		t.Fatal(err)
	}
	hits, err := f.svc.As(f.sys).Audit(ctx, directory.AuditQuery{Text: "s3cret"})
	if err != nil || len(hits) != 0 {
		t.Errorf("password found in the audit log: %+v, %v", hits, err)
	}
}
