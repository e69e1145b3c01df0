package admin_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

func i64(v int64) *int64 { return &v }

// A system admin creates a plan and assigns it: the domain comes within it. The domain
// admin may then narrow its limits within the plan, never exceed it, never touch
// Enabled or MaxUsers, never another domain; a user and a domain admin may not manage
// plans. Every refusal changes nothing.
func TestPlansBoundDomainAdmins(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys, da := f.svc.As(f.sys), f.svc.As(f.daA)
	user := f.svc.As(admin.Actor{Account: f.userA, Via: "api"})

	basic := directory.Plan{Name: "basic", MailboxQuotaBytes: 512 << 20, MaxMessageBytes: 10 << 20,
		MaxAttachmentBytes: 5 << 20, MaxUsers: 5, DisabledServices: []string{directory.ServicePOP3}, Antispam: true}
	if _, err := sys.CreatePlan(ctx, basic); err != nil {
		t.Fatal(err)
	}
	for name, sc := range map[string]*admin.Scoped{"domain admin": da, "user": user} {
		if _, err := sc.CreatePlan(ctx, directory.Plan{Name: "mine"}); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("%s creates a plan: %v", name, err)
		}
		if _, err := sc.AssignPlan(ctx, "a.example", "basic"); err == nil {
			t.Errorf("%s assigns a plan", name)
		}
		if _, _, err := sc.UpdatePlan(ctx, basic); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("%s updates a plan: %v", name, err)
		}
	}
	// Without a plan the domain admin changes no limit.
	if _, err := da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxMessageBytes: i64(1 << 20)}); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("domain admin without plan: %v", err)
	}

	d, err := sys.AssignPlan(ctx, "a.example", "basic")
	if err != nil {
		t.Fatal(err)
	}
	// a.example had a 1 GiB quota ceiling and nothing else: it comes down to the plan.
	if d.MaxQuotaBytes != 512<<20 || d.MaxMessageBytes != 10<<20 || d.MaxUsers != 5 || !slices.Equal(d.DisabledServices, []string{"pop3"}) {
		t.Fatalf("domain on plan: %+v", d)
	}
	if p, err := da.DomainPlan(ctx, "a.example"); err != nil || p == nil || p.Name != "basic" {
		t.Errorf("domain admin reads its plan: %+v %v", p, err)
	}
	if _, err := da.DomainPlan(ctx, "b.example"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("domain admin reads B's plan: %v", err)
	}

	// Within the plan: allowed.
	dis := []string{"imap", "pop3"}
	d, err = da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxQuotaBytes: i64(100 << 20), DisabledServices: &dis})
	if err != nil || d.MaxQuotaBytes != 100<<20 || !slices.Equal(d.DisabledServices, dis) {
		t.Fatalf("within the plan: %+v %v", d, err)
	}
	// Beyond it: refused, nothing changes.
	none := []string{}
	enabled, users := false, 3
	for name, u := range map[string]admin.DomainUpdate{
		"quota above":       {MaxQuotaBytes: i64(1 << 30)},
		"quota unlimited":   {MaxQuotaBytes: i64(0)},
		"message above":     {MaxMessageBytes: i64(11 << 20)},
		"pop3 re-enabled":   {DisabledServices: &none},
		"enabled":           {Enabled: &enabled},
		"max users (lower)": {MaxUsers: &users},
	} {
		if _, err := da.UpdateDomain(ctx, "a.example", u); !errors.Is(err, directory.ErrLimit) && !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("%s: %v, want ErrLimit or ErrForbidden", name, err)
		}
	}
	if got, err := f.env.Dir.Domain(ctx, "a.example"); err != nil || got.MaxQuotaBytes != 100<<20 || got.MaxMessageBytes != 10<<20 ||
		!got.Enabled || got.MaxUsers != 5 || !slices.Equal(got.DisabledServices, dis) {
		t.Errorf("refused updates changed the domain: %+v %v", got, err)
	}
	// The system admin is bound by the plan too.
	if _, err := sys.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxUsers: func() *int { n := 50; return &n }()}); !errors.Is(err, directory.ErrLimit) {
		t.Errorf("system admin beyond the plan: %v", err)
	}
	// Another tenant's domain is not found.
	if _, err := da.UpdateDomain(ctx, "b.example", admin.DomainUpdate{MaxQuotaBytes: i64(1 << 20)}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("domain admin updates B: %v", err)
	}
	// The domain limits now bind the domain admin's accounts: a quota above the
	// domain's ceiling is refused by the directory.
	if _, err := da.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("big@a.example"), Password: "pw pw pw pw",
		QuotaBytes: 200 << 20}); !errors.Is(err, directory.ErrLimit) {
		t.Errorf("account quota beyond the domain on the plan: %v", err)
	}

	// A lowered plan brings its domains down with it.
	basic.MaxMessageBytes, basic.MailboxQuotaBytes = 5<<20, 50<<20
	if _, changed, err := sys.UpdatePlan(ctx, basic); err != nil || !slices.Equal(changed, []string{"a.example"}) {
		t.Fatalf("UpdatePlan: %v %v", changed, err)
	}
	if got, err := f.env.Dir.Domain(ctx, "a.example"); err != nil || got.MaxMessageBytes != 5<<20 || got.MaxQuotaBytes != 50<<20 {
		t.Errorf("after the plan was lowered: %+v %v", got, err)
	}
	if err := sys.DeletePlan(ctx, "basic"); !errors.Is(err, directory.ErrPlanInUse) {
		t.Errorf("delete plan in use: %v", err)
	}
	if _, err := sys.AssignPlan(ctx, "a.example", ""); err != nil {
		t.Fatal(err)
	}
	if err := sys.DeletePlan(ctx, "basic"); err != nil {
		t.Errorf("delete unused plan: %v", err)
	}
	// Every change is in the audit log.
	es, err := sys.Audit(ctx, directory.AuditQuery{Action: "plan.create"})
	if err != nil || len(es) != 1 || es[0].Target != "basic" {
		t.Errorf("audit plan.create: %+v %v", es, err)
	}
}
