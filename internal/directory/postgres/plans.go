package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// Service plans (directory.PlanStore), as the SQLite driver's schema v4.

// schemaV6 adds service plans and their assignment to domains: an assignment goes with
// its domain; a plan in use cannot be deleted (no cascade from plans).
const schemaV6 = `
CREATE TABLE plans (
	name                 text COLLATE "C" PRIMARY KEY,
	description          text NOT NULL,
	mailbox_quota_bytes  bigint NOT NULL,
	max_message_bytes    bigint NOT NULL,
	max_attachment_bytes bigint NOT NULL,
	max_users            integer NOT NULL,
	disabled_services    text[] NOT NULL,
	sms                  boolean NOT NULL,
	antivirus            boolean NOT NULL,
	antispam             boolean NOT NULL,
	created_at           timestamptz NOT NULL
);

CREATE TABLE domain_plans (
	domain text COLLATE "C" PRIMARY KEY REFERENCES domains(name) ON DELETE CASCADE,
	plan   text COLLATE "C" NOT NULL REFERENCES plans(name)
);
CREATE INDEX domain_plans_by_plan ON domain_plans(plan);
`

const planCols = `name, description, mailbox_quota_bytes, max_message_bytes, max_attachment_bytes, max_users,
	disabled_services, sms, antivirus, antispam, created_at`

func scanPlan(row pgx.Row) (directory.Plan, error) {
	var p directory.Plan
	err := row.Scan(&p.Name, &p.Description, &p.MailboxQuotaBytes, &p.MaxMessageBytes, &p.MaxAttachmentBytes,
		&p.MaxUsers, &p.DisabledServices, &p.SMS, &p.Antivirus, &p.Antispam, &p.CreatedAt)
	p.CreatedAt, p.DisabledServices = p.CreatedAt.UTC(), nilIfEmpty(p.DisabledServices)
	return p, err
}

func planServices(p directory.Plan) []string {
	if p.DisabledServices == nil {
		return []string{}
	}
	return p.DisabledServices
}

// CreatePlan adds a plan.
func (d *Directory) CreatePlan(ctx context.Context, p directory.Plan) error {
	p, err := directory.NormPlan(p)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO plans (`+planCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (name) DO NOTHING`,
			p.Name, p.Description, p.MailboxQuotaBytes, p.MaxMessageBytes, p.MaxAttachmentBytes, p.MaxUsers,
			planServices(p), p.SMS, p.Antivirus, p.Antispam, d.now())
		if err != nil {
			return fmt.Errorf("postgres directory: create plan %q: %w", p.Name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: plan %q", directory.ErrExists, p.Name)
		}
		return nil
	})
}

// Plan returns one plan.
func (d *Directory) Plan(ctx context.Context, name string) (directory.Plan, error) {
	p, err := scanPlan(d.pool.QueryRow(ctx, `SELECT `+planCols+` FROM plans WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("%w: plan %q", directory.ErrNotFound, name)
	}
	if err != nil {
		return p, fmt.Errorf("postgres directory: plan %q: %w", name, err)
	}
	return p, nil
}

// Plans lists every plan by name.
func (d *Directory) Plans(ctx context.Context) ([]directory.Plan, error) {
	return queryAll(ctx, d.pool, scanPlan, "plans", `SELECT `+planCols+` FROM plans ORDER BY name`)
}

// UpdatePlan replaces a plan's limits and features.
func (d *Directory) UpdatePlan(ctx context.Context, p directory.Plan) error {
	p, err := directory.NormPlan(p)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE plans SET description = $2, mailbox_quota_bytes = $3,
			max_message_bytes = $4, max_attachment_bytes = $5, max_users = $6, disabled_services = $7,
			sms = $8, antivirus = $9, antispam = $10 WHERE name = $1`,
			p.Name, p.Description, p.MailboxQuotaBytes, p.MaxMessageBytes, p.MaxAttachmentBytes, p.MaxUsers,
			planServices(p), p.SMS, p.Antivirus, p.Antispam)
		if err != nil {
			return fmt.Errorf("postgres directory: update plan %q: %w", p.Name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: plan %q", directory.ErrNotFound, p.Name)
		}
		return nil
	})
}

// DeletePlan removes a plan no domain uses. The plan row is locked first, so a
// concurrent SetDomainPlan (whose foreign key check takes a share lock on it) either
// commits before the count or waits and then fails on the missing plan.
func (d *Directory) DeletePlan(ctx context.Context, name string) error {
	return d.write(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM plans WHERE name = $1 FOR UPDATE`, name).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: plan %q", directory.ErrNotFound, name)
		}
		if err != nil {
			return fmt.Errorf("postgres directory: delete plan %q: %w", name, err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM domain_plans WHERE plan = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("postgres directory: delete plan %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: plan %q has %d domains", directory.ErrPlanInUse, name, n)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM plans WHERE name = $1`, name); err != nil {
			return fmt.Errorf("postgres directory: delete plan %q: %w", name, err)
		}
		return nil
	})
}

// SetDomainPlan assigns a plan to a domain, or removes the assignment ("").
func (d *Directory) SetDomainPlan(ctx context.Context, domain, plan string) error {
	name, err := lookupDomain(domain)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		if _, err := getDomain(ctx, tx, name, "FOR NO KEY UPDATE"); err != nil {
			return err
		}
		if plan == "" {
			if _, err := tx.Exec(ctx, `DELETE FROM domain_plans WHERE domain = $1`, name); err != nil {
				return fmt.Errorf("postgres directory: domain plan %q: %w", name, err)
			}
			return nil
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM plans WHERE name = $1 FOR SHARE`, plan).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: plan %q", directory.ErrNotFound, plan)
		}
		if err != nil {
			return fmt.Errorf("postgres directory: domain plan %q: %w", name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO domain_plans (domain, plan) VALUES ($1, $2)
			ON CONFLICT (domain) DO UPDATE SET plan = excluded.plan`, name, plan); err != nil {
			return fmt.Errorf("postgres directory: domain plan %q: %w", name, err)
		}
		return nil
	})
}

// DomainPlan returns the plan of a domain, "" for none.
func (d *Directory) DomainPlan(ctx context.Context, domain string) (string, error) {
	name, err := lookupDomain(domain)
	if err != nil {
		return "", nil
	}
	var plan string
	err = d.pool.QueryRow(ctx, `SELECT plan FROM domain_plans WHERE domain = $1`, name).Scan(&plan)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("postgres directory: domain plan %q: %w", name, err)
	}
	return plan, nil
}

// PlanDomains lists the domains on a plan.
func (d *Directory) PlanDomains(ctx context.Context, plan string) ([]string, error) {
	return queryAll(ctx, d.pool, func(r pgx.Row) (string, error) {
		var s string
		err := r.Scan(&s)
		return s, err
	}, "plan domains", `SELECT domain FROM domain_plans WHERE plan = $1 ORDER BY domain`, plan)
}

var _ directory.PlanStore = (*Directory)(nil)
