package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
)

// Service plans (directory.PlanStore), schema v4 tables plans and domain_plans.

const planCols = `name, description, mailbox_quota_bytes, max_message_bytes, max_attachment_bytes, max_users,
	disabled_services, sms, antivirus, antispam, created_at`

func scanPlan(s scanner) (directory.Plan, error) {
	var p directory.Plan
	var services string
	var sms, av, as, created int64
	err := s.Scan(&p.Name, &p.Description, &p.MailboxQuotaBytes, &p.MaxMessageBytes, &p.MaxAttachmentBytes,
		&p.MaxUsers, &services, &sms, &av, &as, &created)
	p.DisabledServices, p.SMS, p.Antivirus, p.Antispam = splitServices(services), sms != 0, av != 0, as != 0
	p.CreatedAt = fromMicros(created)
	return p, err
}

// CreatePlan adds a plan.
func (d *Directory) CreatePlan(ctx context.Context, p directory.Plan) error {
	p, err := directory.NormPlan(p)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO plans (`+planCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (name) DO NOTHING`,
			p.Name, p.Description, p.MailboxQuotaBytes, p.MaxMessageBytes, p.MaxAttachmentBytes, p.MaxUsers,
			joinServices(p.DisabledServices), boolInt(p.SMS), boolInt(p.Antivirus), boolInt(p.Antispam), micros(d.now()))
		if err != nil {
			return fmt.Errorf("sqlite directory: create plan %q: %w", p.Name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: plan %q", directory.ErrExists, p.Name), err)
		}
		return nil
	})
}

// Plan returns one plan.
func (d *Directory) Plan(ctx context.Context, name string) (directory.Plan, error) {
	p, err := scanPlan(d.r.QueryRowContext(ctx, `SELECT `+planCols+` FROM plans WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("%w: plan %q", directory.ErrNotFound, name)
	}
	if err != nil {
		return p, fmt.Errorf("sqlite directory: plan %q: %w", name, err)
	}
	return p, nil
}

// Plans lists every plan by name.
func (d *Directory) Plans(ctx context.Context) ([]directory.Plan, error) {
	rows, err := d.r.QueryContext(ctx, `SELECT `+planCols+` FROM plans ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: plans: %w", err)
	}
	var out []directory.Plan
	for rows.Next() {
		p, err := scanPlan(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: plans: %w", err), rows.Close())
		}
		out = append(out, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: plans: %w", err)
	}
	return out, nil
}

// UpdatePlan replaces a plan's limits and features.
func (d *Directory) UpdatePlan(ctx context.Context, p directory.Plan) error {
	p, err := directory.NormPlan(p)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE plans SET description = $2, mailbox_quota_bytes = $3,
			max_message_bytes = $4, max_attachment_bytes = $5, max_users = $6, disabled_services = $7,
			sms = $8, antivirus = $9, antispam = $10 WHERE name = $1`,
			p.Name, p.Description, p.MailboxQuotaBytes, p.MaxMessageBytes, p.MaxAttachmentBytes, p.MaxUsers,
			joinServices(p.DisabledServices), boolInt(p.SMS), boolInt(p.Antivirus), boolInt(p.Antispam))
		if err != nil {
			return fmt.Errorf("sqlite directory: update plan %q: %w", p.Name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: plan %q", directory.ErrNotFound, p.Name), err)
		}
		return nil
	})
}

// DeletePlan removes a plan no domain uses.
func (d *Directory) DeletePlan(ctx context.Context, name string) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM domain_plans WHERE plan = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("sqlite directory: delete plan %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: plan %q has %d domains", directory.ErrPlanInUse, name, n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM plans WHERE name = $1`, name)
		if err != nil {
			return fmt.Errorf("sqlite directory: delete plan %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: plan %q", directory.ErrNotFound, name), err)
		}
		return nil
	})
}

// SetDomainPlan assigns a plan to a domain, or removes the assignment ("").
func (d *Directory) SetDomainPlan(ctx context.Context, domain, plan string) error {
	name, err := lookupDomainName(domain)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, name); err != nil {
			return err
		}
		if plan == "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM domain_plans WHERE domain = $1`, name); err != nil {
				return fmt.Errorf("sqlite directory: domain plan %q: %w", name, err)
			}
			return nil
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM plans WHERE name = $1`, plan).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: plan %q", directory.ErrNotFound, plan)
		}
		if err != nil {
			return fmt.Errorf("sqlite directory: domain plan %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO domain_plans (domain, plan) VALUES ($1, $2)
			ON CONFLICT (domain) DO UPDATE SET plan = excluded.plan`, name, plan); err != nil {
			return fmt.Errorf("sqlite directory: domain plan %q: %w", name, err)
		}
		return nil
	})
}

// DomainPlan returns the plan of a domain, "" for none.
func (d *Directory) DomainPlan(ctx context.Context, domain string) (string, error) {
	name, err := lookupDomainName(domain)
	if err != nil {
		return "", nil
	}
	var plan string
	err = d.r.QueryRowContext(ctx, `SELECT plan FROM domain_plans WHERE domain = $1`, name).Scan(&plan)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sqlite directory: domain plan %q: %w", name, err)
	}
	return plan, nil
}

// PlanDomains lists the domains on a plan.
func (d *Directory) PlanDomains(ctx context.Context, plan string) ([]string, error) {
	rows, err := d.r.QueryContext(ctx, `SELECT domain FROM domain_plans WHERE plan = $1 ORDER BY domain`, plan)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: plan domains: %w", err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: plan domains: %w", err), rows.Close())
		}
		out = append(out, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: plan domains: %w", err)
	}
	return out, nil
}

var _ directory.PlanStore = (*Directory)(nil)
