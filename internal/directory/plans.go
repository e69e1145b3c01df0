package directory

// Service plans ("packages"): named sets of limits and features that a system admin
// assigns to domains, for hosting offers ("Basic: 1 GiB mailboxes, 10 users, no POP3").
//
// Model:
//   - A Plan bounds a domain: mailbox quota, message and attachment size, number of users
//     (zero: unlimited, as in Domain), the login services it may offer (DisabledServices,
//     NormServices rules) and the features of the message path (SMS notifications,
//     antivirus, antispam).
//   - A domain has at most one plan (DomainPlan, "" for none). The plan is the ceiling of
//     the domain's own limits and switches: admin.Scoped applies it when a plan is
//     assigned or changed, and refuses a domain admin's change beyond it. The directory
//     only stores plans and assignments.
//   - A plan in use cannot be deleted (ErrPlanInUse); a deleted domain's assignment goes
//     with it.
//
// The store is an optional add-on found by type assertion (PlanStore), like the web
// credentials; both the SQLite and the PostgreSQL drivers have it.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ErrPlanInUse is returned when deleting a plan that domains still use.
var ErrPlanInUse = errors.New("plan still assigned to domains")

// Features of the message path a plan may switch on.
const (
	FeatureSMS       = "sms"       // SMS notifications of new mail
	FeatureAntivirus = "antivirus" // the antivirus filter (clamd)
	FeatureAntispam  = "antispam"  // the spam filters (rspamd, Bayes)
)

// Plan is a named set of limits and features. Zero limits mean unlimited.
type Plan struct {
	Name               string // 1-64 of a-z 0-9 . _ -, lower case
	Description        string
	MailboxQuotaBytes  int64 // largest quota of one mailbox (the domain's MaxQuotaBytes)
	MaxMessageBytes    int64
	MaxAttachmentBytes int64
	MaxUsers           int
	// DisabledServices are the login services no domain on the plan may offer (sorted,
	// no duplicates, nil when none).
	DisabledServices []string
	SMS              bool
	Antivirus        bool
	Antispam         bool
	CreatedAt        time.Time
}

var planName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// maxPlanDescription bounds Plan.Description in bytes.
const maxPlanDescription = 500

// NormPlan validates p and normalises its service list, for drivers to call before they
// store it. ErrInvalid for a bad name, a negative limit or an unknown service.
func NormPlan(p Plan) (Plan, error) {
	if !planName.MatchString(p.Name) {
		return p, fmt.Errorf("%w: plan name %q: 1 to 64 of a-z 0-9 . _ - (lower case)", ErrInvalid, p.Name)
	}
	if len(p.Description) > maxPlanDescription {
		return p, fmt.Errorf("%w: plan description longer than %d bytes", ErrInvalid, maxPlanDescription)
	}
	if p.MailboxQuotaBytes < 0 || p.MaxMessageBytes < 0 || p.MaxAttachmentBytes < 0 || p.MaxUsers < 0 {
		return p, fmt.Errorf("%w: negative plan limit", ErrInvalid)
	}
	s, err := NormServices(p.DisabledServices)
	if err != nil {
		return p, err
	}
	p.DisabledServices = s
	return p, nil
}

// PlanStore keeps service plans and their assignment to domains. Every method is safe for
// concurrent use and has durably committed its change when it returns nil.
type PlanStore interface {
	// CreatePlan adds p (NormPlan rules; CreatedAt is set by the store). ErrExists if
	// the name is taken.
	CreatePlan(ctx context.Context, p Plan) error
	// Plan returns one plan by name. ErrNotFound if absent.
	Plan(ctx context.Context, name string) (Plan, error)
	// Plans lists every plan ordered by name.
	Plans(ctx context.Context) ([]Plan, error)
	// UpdatePlan replaces everything of plan p.Name but its name and CreatedAt.
	// ErrNotFound if absent.
	UpdatePlan(ctx context.Context, p Plan) error
	// DeletePlan removes a plan. ErrNotFound if absent, ErrPlanInUse while a domain has it.
	DeletePlan(ctx context.Context, name string) error
	// SetDomainPlan assigns plan to domain; "" removes the assignment. ErrNotFound for an
	// unknown domain or plan.
	SetDomainPlan(ctx context.Context, domain, plan string) error
	// DomainPlan returns the name of domain's plan, "" when it has none (or the domain
	// does not exist).
	DomainPlan(ctx context.Context, domain string) (string, error)
	// PlanDomains lists the domains on plan, ordered by name.
	PlanDomains(ctx context.Context, plan string) ([]string, error)
}
