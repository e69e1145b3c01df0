package directorytest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"mailgrid/internal/directory"
)

// RunPlans runs the conformance cases of directory.PlanStore: plan CRUD with validation
// (a refused plan stores nothing), assignment to domains, the in-use rule and the
// assignment going with its domain.
func RunPlans(t *testing.T, open func(t *testing.T) directory.Directory) {
	cases := []struct {
		name string
		fn   func(t *testing.T, d directory.Directory, ps directory.PlanStore)
	}{
		{"PlanCRUD", testPlanCRUD},
		{"PlanInvalid", testPlanInvalid},
		{"PlanAssign", testPlanAssign},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := open(t)
			ps, ok := d.(directory.PlanStore)
			if !ok {
				t.Fatalf("%T does not implement directory.PlanStore", d)
			}
			c.fn(t, d, ps)
		})
	}
}

func samePlan(t *testing.T, got, want directory.Plan) {
	t.Helper()
	if got.CreatedAt.IsZero() || time.Since(got.CreatedAt) > 24*time.Hour || got.CreatedAt.Location() != time.UTC {
		t.Errorf("plan %s: CreatedAt %v", got.Name, got.CreatedAt)
	}
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n got %+v\nwant %+v", got, want)
	}
}

func testPlanCRUD(t *testing.T, _ directory.Directory, ps directory.PlanStore) {
	ctx := t.Context()
	basic := directory.Plan{Name: "basic", Description: "small offices", MailboxQuotaBytes: 1 << 30,
		MaxMessageBytes: 25 << 20, MaxAttachmentBytes: 20 << 20, MaxUsers: 10,
		DisabledServices: []string{"POP3", "imap", "pop3"}, Antispam: true}
	if err := ps.CreatePlan(ctx, basic); err != nil {
		t.Fatal(err)
	}
	want := basic
	want.DisabledServices = []string{"imap", "pop3"} // NormServices: folded, sorted, deduplicated
	got, err := ps.Plan(ctx, "basic")
	if err != nil {
		t.Fatal(err)
	}
	samePlan(t, got, want)
	if err := ps.CreatePlan(ctx, directory.Plan{Name: "basic"}); !errors.Is(err, directory.ErrExists) {
		t.Errorf("duplicate plan: %v, want ErrExists", err)
	}
	pro := directory.Plan{Name: "pro", SMS: true, Antivirus: true, Antispam: true}
	if err := ps.CreatePlan(ctx, pro); err != nil {
		t.Fatal(err)
	}
	list, err := ps.Plans(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "basic" || list[1].Name != "pro" {
		t.Fatalf("Plans: %+v %v", list, err)
	}
	samePlan(t, list[1], pro)

	want.MaxUsers, want.DisabledServices, want.SMS, want.Description = 20, nil, true, ""
	if err := ps.UpdatePlan(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err = ps.Plan(ctx, "basic")
	if err != nil {
		t.Fatal(err)
	}
	samePlan(t, got, want)
	if err := ps.UpdatePlan(ctx, directory.Plan{Name: "nope"}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("update unknown plan: %v", err)
	}
	if _, err := ps.Plan(ctx, "nope"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown plan: %v", err)
	}
	if err := ps.DeletePlan(ctx, "pro"); err != nil {
		t.Fatal(err)
	}
	if err := ps.DeletePlan(ctx, "pro"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	if list, err := ps.Plans(ctx); err != nil || len(list) != 1 {
		t.Errorf("after delete: %+v %v", list, err)
	}
}

func testPlanInvalid(t *testing.T, _ directory.Directory, ps directory.PlanStore) {
	ctx := t.Context()
	for _, p := range []directory.Plan{
		{Name: ""}, {Name: "Upper"}, {Name: "with space"}, {Name: "-lead"},
		{Name: "x123456789012345678901234567890123456789012345678901234567890123456"},
		{Name: "neg", MaxUsers: -1}, {Name: "neg", MailboxQuotaBytes: -1}, {Name: "neg", MaxAttachmentBytes: -1},
		{Name: "svc", DisabledServices: []string{"telnet"}},
	} {
		if err := ps.CreatePlan(ctx, p); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("CreatePlan(%+v): %v, want ErrInvalid", p, err)
		}
	}
	if list, err := ps.Plans(ctx); err != nil || len(list) != 0 {
		t.Errorf("invalid plans stored: %+v %v", list, err)
	}
	if err := ps.CreatePlan(ctx, directory.Plan{Name: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := ps.UpdatePlan(ctx, directory.Plan{Name: "ok", MaxUsers: 5, DisabledServices: []string{"telnet"}}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("invalid update: %v", err)
	}
	if p, err := ps.Plan(ctx, "ok"); err != nil || p.MaxUsers != 0 {
		t.Errorf("invalid update changed the plan: %+v %v", p, err)
	}
}

func testPlanAssign(t *testing.T, d directory.Directory, ps directory.PlanStore) {
	ctx := t.Context()
	for _, n := range []string{"a.example", "b.example"} {
		if err := d.CreateDomain(ctx, directory.Domain{Name: n, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"basic", "pro"} {
		if err := ps.CreatePlan(ctx, directory.Plan{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := ps.DomainPlan(ctx, "a.example"); err != nil || p != "" {
		t.Errorf("no plan yet: %q %v", p, err)
	}
	if err := ps.SetDomainPlan(ctx, "a.example", "nope"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown plan: %v", err)
	}
	if err := ps.SetDomainPlan(ctx, "nope.example", "basic"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown domain: %v", err)
	}
	for _, n := range []string{"a.example", "B.EXAMPLE"} {
		if err := ps.SetDomainPlan(ctx, n, "basic"); err != nil {
			t.Fatal(err)
		}
	}
	if ds, err := ps.PlanDomains(ctx, "basic"); err != nil || !reflect.DeepEqual(ds, []string{"a.example", "b.example"}) {
		t.Errorf("PlanDomains: %v %v", ds, err)
	}
	if err := ps.SetDomainPlan(ctx, "b.example", "pro"); err != nil {
		t.Fatal(err)
	}
	if p, err := ps.DomainPlan(ctx, "b.example"); err != nil || p != "pro" {
		t.Errorf("reassigned: %q %v", p, err)
	}
	if err := ps.DeletePlan(ctx, "basic"); !errors.Is(err, directory.ErrPlanInUse) {
		t.Errorf("delete plan in use: %v", err)
	}
	if err := ps.SetDomainPlan(ctx, "a.example", ""); err != nil {
		t.Fatal(err)
	}
	if p, err := ps.DomainPlan(ctx, "a.example"); err != nil || p != "" {
		t.Errorf("cleared: %q %v", p, err)
	}
	if err := ps.DeletePlan(ctx, "basic"); err != nil {
		t.Errorf("delete unused plan: %v", err)
	}
	// The assignment goes with its domain, and the plan is free again.
	if err := d.DeleteDomain(ctx, "b.example", false); err != nil {
		t.Fatal(err)
	}
	if ds, err := ps.PlanDomains(ctx, "pro"); err != nil || len(ds) != 0 {
		t.Errorf("after domain delete: %v %v", ds, err)
	}
	if err := ps.DeletePlan(ctx, "pro"); err != nil {
		t.Errorf("delete plan of a deleted domain: %v", err)
	}
}
