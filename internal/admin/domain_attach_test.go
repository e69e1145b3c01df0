package admin_test

import (
	"context"
	"errors"
	"testing"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
)

// A domain admin sets the domain's attachment limit within its plan's (0: the plan's);
// above the plan is ErrLimit and changes nothing; lowering the plan clamps the domain's;
// AttachmentLimit picks the tighter.
func TestDomainAttachmentLimitWithinPlan(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sys, da := f.svc.As(f.sys), f.svc.As(f.daA)
	plan := directory.Plan{Name: "att", MaxAttachmentBytes: 5 << 20}
	if _, err := sys.CreatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.AssignPlan(ctx, "a.example", "att"); err != nil {
		t.Fatal(err)
	}
	d, err := da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxAttachmentBytes: i64(2 << 20)})
	if err != nil || d.MaxAttachmentBytes != 2<<20 || d.AttachmentLimit(plan.MaxAttachmentBytes) != 2<<20 {
		t.Fatalf("within the plan: %+v %v", d, err)
	}
	if _, err := da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxAttachmentBytes: i64(6 << 20)}); !errors.Is(err, directory.ErrLimit) {
		t.Fatalf("above the plan: %v", err)
	}
	if _, err := da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxAttachmentBytes: i64(-1)}); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("negative: %v", err)
	}
	if d, err := f.svc.Dir.Domain(ctx, "a.example"); err != nil || d.MaxAttachmentBytes != 2<<20 {
		t.Fatalf("a refused change changed: %+v %v", d, err)
	}
	if _, err := da.UpdateDomain(ctx, "b.example", admin.DomainUpdate{MaxAttachmentBytes: i64(1)}); err == nil {
		t.Fatal("domain admin of a.example changed b.example")
	}
	// 0 is the plan's.
	d, err = da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxAttachmentBytes: i64(0)})
	if err != nil || d.AttachmentLimit(plan.MaxAttachmentBytes) != 5<<20 {
		t.Fatalf("the plan's: %+v %v", d, err)
	}
	// A lower plan brings the domain's own limit down.
	if _, err := da.UpdateDomain(ctx, "a.example", admin.DomainUpdate{MaxAttachmentBytes: i64(4 << 20)}); err != nil {
		t.Fatal(err)
	}
	plan.MaxAttachmentBytes = 1 << 20
	if _, _, err := sys.UpdatePlan(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if d, err := f.svc.Dir.Domain(ctx, "a.example"); err != nil || d.MaxAttachmentBytes != 1<<20 {
		t.Fatalf("after lowering the plan: %+v %v", d, err)
	}
	if got := (directory.Domain{MaxAttachmentBytes: 3}).AttachmentLimit(0); got != 3 {
		t.Fatalf("no plan: %d", got)
	}
}
