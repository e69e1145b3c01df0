package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

const domainCols = `name, enabled, max_message_bytes, max_quota_bytes, max_users, created_at, disabled_services, max_attachment_bytes`

// domainReadCols are domainCols and the deletion stamps, as scanDomain reads them.
const domainReadCols = domainCols + `, deleted_at, purge_at`

// scanDomain reads domainReadCols; a deleted domain reads as disabled (domainlife.go).
func scanDomain(row pgx.Row) (directory.Domain, error) {
	var d directory.Domain
	var deleted, purge *time.Time
	err := row.Scan(&d.Name, &d.Enabled, &d.MaxMessageBytes, &d.MaxQuotaBytes, &d.MaxUsers, &d.CreatedAt, &d.DisabledServices,
		&d.MaxAttachmentBytes, &deleted, &purge)
	d.CreatedAt, d.DisabledServices = d.CreatedAt.UTC(), nilIfEmpty(d.DisabledServices)
	if deleted != nil && purge != nil {
		d.DeletedAt, d.PurgeAt, d.Enabled = deleted.UTC(), purge.UTC(), false
	}
	return d, err
}

// getDomain reads one domain by ASCII name; lock is "" or a locking clause ("FOR NO KEY
// UPDATE", "FOR UPDATE") for the transaction's checks. ErrNotFound if absent.
func getDomain(ctx context.Context, q querier, name, lock string) (directory.Domain, error) {
	d, err := scanDomain(q.QueryRow(ctx, `SELECT `+domainReadCols+` FROM domains WHERE name = $1 `+lock, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("%w: domain %q", directory.ErrNotFound, name)
	}
	if err != nil {
		return d, fmt.Errorf("postgres directory: domain %q: %w", name, err)
	}
	return d, nil
}

// CreateDomain adds a domain; the name may be given in Unicode or ASCII form. CreatedAt is
// set by the directory.
func (d *Directory) CreateDomain(ctx context.Context, dom directory.Domain) error {
	name, err := normDomain(dom.Name)
	if err != nil {
		return err
	}
	services, err := checkDomainLimits(dom)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		if err := lockDomainNames(ctx, tx); err != nil {
			return err
		}
		if t, err := aliasTarget(ctx, tx, name); err != nil || t != "" {
			return errors.Join(err, fmt.Errorf("%w: %q is an alias domain", directory.ErrExists, name))
		}
		tag, err := tx.Exec(ctx, `INSERT INTO domains (`+domainCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (name) DO NOTHING`,
			name, dom.Enabled, dom.MaxMessageBytes, dom.MaxQuotaBytes, dom.MaxUsers, d.now(), services, dom.MaxAttachmentBytes)
		if err != nil {
			return fmt.Errorf("postgres directory: create domain %q: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: domain %q", directory.ErrExists, name)
		}
		return nil
	})
}

// Domain returns one domain by name (Unicode or ASCII).
func (d *Directory) Domain(ctx context.Context, name string) (directory.Domain, error) {
	a, err := lookupDomain(name)
	if err != nil {
		return directory.Domain{}, err
	}
	// One statement: the alias's target, else the name itself (domainlife.go).
	dom, err := scanDomain(d.pool.QueryRow(ctx, `SELECT `+domainReadCols+` FROM domains
		WHERE name = coalesce((SELECT target FROM domain_aliases WHERE name = $1), $1)`, a))
	if errors.Is(err, pgx.ErrNoRows) {
		return dom, fmt.Errorf("%w: domain %q", directory.ErrNotFound, a)
	}
	if err != nil {
		return dom, fmt.Errorf("postgres directory: domain %q: %w", a, err)
	}
	return dom, nil
}

// Domains lists all domains ordered by ASCII name.
func (d *Directory) Domains(ctx context.Context) ([]directory.Domain, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+domainReadCols+` FROM domains ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("postgres directory: domains: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Domain, error) { return scanDomain(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres directory: domains: %w", err)
	}
	return out, nil
}

// UpdateDomain replaces the limits, Enabled and DisabledServices of an existing domain.
// Lowered limits bind new accounts and quota changes; existing accounts keep what they
// have. Service switches bind the next login.
func (d *Directory) UpdateDomain(ctx context.Context, dom directory.Domain) error {
	name, err := normDomain(dom.Name)
	if err != nil {
		return err
	}
	services, err := checkDomainLimits(dom)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		cur, err := getDomain(ctx, tx, name, "FOR UPDATE")
		if err != nil {
			return err
		}
		if cur.Deleted() {
			return fmt.Errorf("%w: %q", directory.ErrDomainDeleted, name)
		}
		if _, err := tx.Exec(ctx, `UPDATE domains SET enabled = $2, max_message_bytes = $3,
			max_quota_bytes = $4, max_users = $5, disabled_services = $6, max_attachment_bytes = $7 WHERE name = $1`,
			name, dom.Enabled, dom.MaxMessageBytes, dom.MaxQuotaBytes, dom.MaxUsers, services, dom.MaxAttachmentBytes); err != nil {
			return fmt.Errorf("postgres directory: update domain %q: %w", name, err)
		}
		return nil
	})
}

// DeleteDomain removes a domain. Without force it refuses (ErrDomainNotEmpty) while the
// domain has accounts or aliases; with force its aliases and accounts go in the same
// transaction. Either way alias targets elsewhere that point into the domain are removed
// (aliases left without targets are deleted): once the domain is gone they would turn
// into remote forwards. Domain-admin grants on it are dropped.
func (d *Directory) DeleteDomain(ctx context.Context, name string, force bool) error {
	a, err := lookupDomain(name)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		if _, err := getDomain(ctx, tx, a, "FOR UPDATE"); err != nil {
			return err
		}
		var accounts, aliases int
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM accounts WHERE domain = $1),
			(SELECT count(*) FROM aliases WHERE domain = $1)`, a).Scan(&accounts, &aliases); err != nil {
			return fmt.Errorf("postgres directory: delete domain %q: %w", a, err)
		}
		if !force && accounts+aliases > 0 {
			return fmt.Errorf("%w: %q has %d accounts and %d aliases", directory.ErrDomainNotEmpty, a, accounts, aliases)
		}
		return deleteDomainRows(ctx, tx, a)
	})
}

func deleteDomainRows(ctx context.Context, tx pgx.Tx, name string) error {
	// alias_targets of the domain's own aliases and account_admin_domains go by cascade.
	for _, q := range []string{
		`DELETE FROM aliases WHERE domain = $1`,
		`DELETE FROM accounts WHERE domain = $1`,
		// The SMS counters outlive a deleted account (the domain's statistics) but not
		// the domain: a domain created again under the name starts with none.
		`DELETE FROM sms_counts WHERE domain = $1`,
	} {
		if _, err := tx.Exec(ctx, q, name); err != nil {
			return fmt.Errorf("postgres directory: delete domain %q: %w", name, err)
		}
	}
	if err := pruneTargets(ctx, tx, `target_domain = $1`, name); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM domains WHERE name = $1`, name); err != nil {
		return fmt.Errorf("postgres directory: delete domain %q: %w", name, err)
	}
	return nil
}

// IsLocalDomain reports whether domain (or the target of alias domain domain) exists here
// and is enabled or deleted (its mail refused here, see domainlife.go). A name that is
// not a valid domain is simply not local.
func (d *Directory) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	a, err := mail.ParseDomain(domain)
	if err != nil {
		return false, nil
	}
	var enabled bool
	err = d.pool.QueryRow(ctx, `SELECT enabled OR deleted_at IS NOT NULL FROM domains
		WHERE name = coalesce((SELECT target FROM domain_aliases WHERE name = $1), $1)`, a).Scan(&enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres directory: is local domain %q: %w", a, err)
	}
	return enabled, nil
}
