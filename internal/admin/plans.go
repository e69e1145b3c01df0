package admin

// Service plans: the system admin's named ceilings of domain limits and switches
// (directory.Plan). The rules, kept here so every front-end applies them:
//   - A plan bounds its domains for everyone: MaxQuotaBytes, MaxMessageBytes and MaxUsers
//     of a domain on a plan are set (non-zero) and at most the plan's, and the domain
//     disables at least the services the plan disables (WithinPlan). Going beyond means
//     changing or removing the plan, which only a system admin does.
//   - Assigning a plan, or changing one, brings its domains within it (ClampToPlan):
//     limits above the plan come down to it, unlimited ones become the plan's, the plan's
//     disabled services are added. Limits below the plan stay. Existing accounts keep
//     their quotas (as when a system admin lowers a domain limit).
//   - A domain admin may change the limits of its own domains only when they are on a
//     plan, only the mailbox quota, message and attachment size (the domain's
//     MaxAttachmentBytes, 0 meaning the plan's) and service switches, and only within
//     the plan (UpdateDomain); Enabled and MaxUsers stay the system admin's.
//   - Plan CRUD and assignment are the system admin's; a domain admin may read the plan
//     of a domain it administers (DomainPlan).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"mailgrid/internal/directory"
)

// ErrNoPlans is returned when the directory driver keeps no plans.
var ErrNoPlans = errors.New("the directory keeps no service plans")

func (s *Service) planStore() (directory.PlanStore, error) {
	ps, ok := s.Dir.(directory.PlanStore)
	if !ok {
		return nil, ErrNoPlans
	}
	return ps, nil
}

// domainPlan is the plan of domain, nil when it has none (or plans are not kept).
func (s *Service) domainPlan(ctx context.Context, domain string) (*directory.Plan, error) {
	ps, ok := s.Dir.(directory.PlanStore)
	if !ok {
		return nil, nil
	}
	name, err := ps.DomainPlan(ctx, domain)
	if err != nil || name == "" {
		return nil, err
	}
	p, err := ps.Plan(ctx, name)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// WithinPlan reports (ErrLimit) how d exceeds plan p, or nil.
func WithinPlan(d directory.Domain, p directory.Plan) error {
	var over []string
	check := func(what string, v, limit int64) {
		if limit > 0 && (v == 0 || v > limit) {
			over = append(over, fmt.Sprintf("%s %s (plan: %d)", what, unlimited(v), limit))
		}
	}
	check("max_quota_bytes", d.MaxQuotaBytes, p.MailboxQuotaBytes)
	check("max_message_bytes", d.MaxMessageBytes, p.MaxMessageBytes)
	check("max_users", int64(d.MaxUsers), int64(p.MaxUsers))
	if p.MaxAttachmentBytes > 0 && d.MaxAttachmentBytes > p.MaxAttachmentBytes { // 0: the plan's
		over = append(over, fmt.Sprintf("max_attachment_bytes %d (plan: %d)", d.MaxAttachmentBytes, p.MaxAttachmentBytes))
	}
	for _, sv := range p.DisabledServices {
		if !slices.Contains(d.DisabledServices, sv) {
			over = append(over, "service "+sv+" (disabled by the plan)")
		}
	}
	if len(over) > 0 {
		return fmt.Errorf("%w: beyond plan %s: %s", directory.ErrLimit, p.Name, strings.Join(over, ", "))
	}
	return nil
}

func unlimited(v int64) string {
	if v == 0 {
		return "unlimited"
	}
	return fmt.Sprint(v)
}

// ClampToPlan returns d brought within plan p (see the file comment).
func ClampToPlan(d directory.Domain, p directory.Plan) directory.Domain {
	clamp := func(v, limit int64) int64 {
		if limit > 0 && (v == 0 || v > limit) {
			return limit
		}
		return v
	}
	d.MaxQuotaBytes = clamp(d.MaxQuotaBytes, p.MailboxQuotaBytes)
	d.MaxMessageBytes = clamp(d.MaxMessageBytes, p.MaxMessageBytes)
	d.MaxUsers = int(clamp(int64(d.MaxUsers), int64(p.MaxUsers)))
	if p.MaxAttachmentBytes > 0 && d.MaxAttachmentBytes > p.MaxAttachmentBytes {
		d.MaxAttachmentBytes = p.MaxAttachmentBytes // 0 stays: it means the plan's
	}
	dis := slices.Concat(d.DisabledServices, p.DisabledServices)
	slices.Sort(dis)
	d.DisabledServices = slices.Compact(dis)
	return d
}

// CheckDomainUpdate decides whether a may apply u to a domain it administers, which is
// on a plan when onPlan (the values are checked against the plan by the caller).
func (a Actor) CheckDomainUpdate(u DomainUpdate, onPlan bool) error {
	if a.IsSystemAdmin() {
		return nil
	}
	if a.Account.Role != directory.RoleDomainAdmin {
		return fmt.Errorf("%w: only administrators change domains", ErrForbidden)
	}
	if !onPlan {
		return fmt.Errorf("%w: the domain is on no service plan: its limits are the system administrator's", ErrForbidden)
	}
	if u.Enabled != nil {
		return fmt.Errorf("%w: enabled: only a system administrator enables or disables a domain", ErrForbidden)
	}
	if u.MaxUsers != nil {
		return fmt.Errorf("%w: max_users: set by the service plan and the system administrator", ErrForbidden)
	}
	return nil
}

// Plans lists the service plans (system admins).
func (c *Scoped) Plans(ctx context.Context) ([]directory.Plan, error) {
	if err := c.a.CheckChangeDomains(); err != nil {
		return nil, err
	}
	ps, err := c.s.planStore()
	if err != nil {
		return nil, err
	}
	return ps.Plans(ctx)
}

// Plan returns one plan with the domains on it (system admins).
func (c *Scoped) Plan(ctx context.Context, name string) (directory.Plan, []string, error) {
	if err := c.a.CheckChangeDomains(); err != nil {
		return directory.Plan{}, nil, err
	}
	ps, err := c.s.planStore()
	if err != nil {
		return directory.Plan{}, nil, err
	}
	p, err := ps.Plan(ctx, name)
	if err != nil {
		return p, nil, err
	}
	ds, err := ps.PlanDomains(ctx, name)
	return p, ds, err
}

// CreatePlan adds a plan (system admins).
func (c *Scoped) CreatePlan(ctx context.Context, p directory.Plan) (directory.Plan, error) {
	if err := c.a.CheckChangeDomains(); err != nil {
		return directory.Plan{}, err
	}
	ps, err := c.s.planStore()
	if err != nil {
		return directory.Plan{}, err
	}
	if err := ps.CreatePlan(ctx, p); err != nil {
		return directory.Plan{}, err
	}
	out, err := ps.Plan(ctx, p.Name)
	if err != nil {
		return out, err
	}
	c.Record(ctx, "plan.create", "", out.Name, describePlan(out))
	return out, nil
}

// UpdatePlan replaces a plan's limits and features and brings every domain on it within
// the new plan (system admins). It returns the domains it changed.
func (c *Scoped) UpdatePlan(ctx context.Context, p directory.Plan) (directory.Plan, []string, error) {
	if err := c.a.CheckChangeDomains(); err != nil {
		return directory.Plan{}, nil, err
	}
	ps, err := c.s.planStore()
	if err != nil {
		return directory.Plan{}, nil, err
	}
	if err := ps.UpdatePlan(ctx, p); err != nil {
		return directory.Plan{}, nil, err
	}
	out, err := ps.Plan(ctx, p.Name)
	if err != nil {
		return out, nil, err
	}
	c.Record(ctx, "plan.update", "", out.Name, describePlan(out))
	ds, err := ps.PlanDomains(ctx, out.Name)
	if err != nil {
		return out, nil, fmt.Errorf("plan updated, but its domains: %w", err)
	}
	var changed []string
	for _, name := range ds {
		ok, err := c.clampDomain(ctx, name, out)
		if err != nil {
			return out, changed, fmt.Errorf("plan updated, but domain %s: %w", name, err)
		}
		if ok {
			changed = append(changed, name)
		}
	}
	return out, changed, nil
}

// clampDomain brings domain name within plan p; it reports whether it changed anything.
func (c *Scoped) clampDomain(ctx context.Context, name string, p directory.Plan) (bool, error) {
	d, err := c.s.Dir.Domain(ctx, name)
	if errors.Is(err, directory.ErrNotFound) {
		return false, nil // deleted meanwhile: its assignment went with it
	}
	if err != nil {
		return false, err
	}
	nd := ClampToPlan(d, p)
	if nd.MaxQuotaBytes == d.MaxQuotaBytes && nd.MaxMessageBytes == d.MaxMessageBytes &&
		nd.MaxUsers == d.MaxUsers && nd.MaxAttachmentBytes == d.MaxAttachmentBytes && slices.Equal(nd.DisabledServices, d.DisabledServices) {
		return false, nil
	}
	if err := c.s.Dir.UpdateDomain(ctx, nd); err != nil {
		return false, err
	}
	c.Record(ctx, "domain.update", name, name, "plan "+p.Name+": "+describeDomain(nd))
	return true, nil
}

// DeletePlan removes a plan no domain uses (system admins; directory.ErrPlanInUse).
func (c *Scoped) DeletePlan(ctx context.Context, name string) error {
	if err := c.a.CheckChangeDomains(); err != nil {
		return err
	}
	ps, err := c.s.planStore()
	if err != nil {
		return err
	}
	if err := ps.DeletePlan(ctx, name); err != nil {
		return err
	}
	c.Record(ctx, "plan.delete", "", name, "")
	return nil
}

// AssignPlan puts domain on plan ("" takes it off any plan) and brings the domain within
// the plan (system admins). It returns the domain as it is now.
func (c *Scoped) AssignPlan(ctx context.Context, domain, plan string) (directory.Domain, error) {
	name, err := c.visibleDomain(domain)
	if err != nil {
		return directory.Domain{}, err
	}
	if err := c.a.CheckChangeDomains(); err != nil {
		return directory.Domain{}, err
	}
	ps, err := c.s.planStore()
	if err != nil {
		return directory.Domain{}, err
	}
	if err := ps.SetDomainPlan(ctx, name, plan); err != nil {
		return directory.Domain{}, err
	}
	c.Record(ctx, "domain.plan", name, name, "plan="+plan)
	if plan != "" {
		p, err := ps.Plan(ctx, plan)
		if err != nil {
			return directory.Domain{}, err
		}
		if _, err := c.clampDomain(ctx, name, p); err != nil {
			return directory.Domain{}, fmt.Errorf("plan assigned, but the domain's limits: %w", err)
		}
	}
	return c.s.Dir.Domain(ctx, name)
}

// DomainPlan returns the plan of a domain the actor administers, nil when none.
func (c *Scoped) DomainPlan(ctx context.Context, domain string) (*directory.Plan, error) {
	name, err := c.visibleDomain(domain)
	if err != nil {
		return nil, err
	}
	return c.s.domainPlan(ctx, name)
}

func describePlan(p directory.Plan) string {
	return fmt.Sprintf("mailbox_quota_bytes=%d max_message_bytes=%d max_attachment_bytes=%d max_users=%d disabled_services=%s sms=%v antivirus=%v antispam=%v",
		p.MailboxQuotaBytes, p.MaxMessageBytes, p.MaxAttachmentBytes, p.MaxUsers, strings.Join(p.DisabledServices, ","),
		p.SMS, p.Antivirus, p.Antispam)
}
