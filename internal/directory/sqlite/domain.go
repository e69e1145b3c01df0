package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// normDomain validates and normalises a domain name given to a mutation: Unicode and
// punycode spellings of one IDNA domain give the same ASCII name.
func normDomain(name string) (string, error) {
	a, err := mail.ParseDomain(name)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q: %v", directory.ErrInvalid, name, err)
	}
	return a, nil
}

// lookupDomainName normalises a domain name given to a lookup: a name that cannot be a
// domain cannot be found.
func lookupDomainName(name string) (string, error) {
	a, err := mail.ParseDomain(name)
	if err != nil {
		return "", fmt.Errorf("%w: domain %q", directory.ErrNotFound, name)
	}
	return a, nil
}

// checkLimits validates a domain's limits and returns its normalised service switches.
func checkLimits(d directory.Domain) ([]string, error) {
	if d.MaxMessageBytes < 0 || d.MaxQuotaBytes < 0 || d.MaxUsers < 0 || d.MaxAttachmentBytes < 0 {
		return nil, fmt.Errorf("%w: negative domain limit", directory.ErrInvalid)
	}
	return directory.NormServices(d.DisabledServices)
}

// joinServices and splitServices convert a DisabledServices list to and from its column
// form: the names joined by "," ("" for none; names never contain a comma).
func joinServices(s []string) string { return strings.Join(s, ",") }

func splitServices(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

const domainCols = `name, enabled, max_message_bytes, max_quota_bytes, max_users, created_at, disabled_services, max_attachment_bytes`

// domainReadCols are domainCols and the deletion stamps, as scanDomain reads them.
const domainReadCols = domainCols + `, deleted_at, purge_at`

type scanner interface{ Scan(dest ...any) error }

// scanDomain reads domainReadCols; a deleted domain reads as disabled (domainlife.go).
func scanDomain(s scanner) (directory.Domain, error) {
	var d directory.Domain
	var created, deleted, purge int64
	var services string
	err := s.Scan(&d.Name, &d.Enabled, &d.MaxMessageBytes, &d.MaxQuotaBytes, &d.MaxUsers, &created, &services,
		&d.MaxAttachmentBytes, &deleted, &purge)
	d.CreatedAt, d.DisabledServices = fromMicros(created), splitServices(services)
	if deleted != 0 {
		d.DeletedAt, d.PurgeAt, d.Enabled = fromMicros(deleted), fromMicros(purge), false
	}
	return d, err
}

// getDomain reads one domain by ASCII name; ErrNotFound if absent.
func getDomain(ctx context.Context, q querier, name string) (directory.Domain, error) {
	d, err := scanDomain(q.QueryRowContext(ctx, `SELECT `+domainReadCols+` FROM domains WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("%w: domain %q", directory.ErrNotFound, name)
	}
	if err != nil {
		return d, fmt.Errorf("sqlite directory: domain %q: %w", name, err)
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
	services, err := checkLimits(dom)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		if t, err := aliasTarget(ctx, tx, name); err != nil || t != "" {
			return errors.Join(err, fmt.Errorf("%w: %q is an alias domain", directory.ErrExists, name))
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO domains (`+domainCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING`,
			name, boolInt(dom.Enabled), dom.MaxMessageBytes, dom.MaxQuotaBytes, dom.MaxUsers, micros(d.now()),
			joinServices(services), dom.MaxAttachmentBytes)
		if err != nil {
			return fmt.Errorf("sqlite directory: create domain %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(fmt.Errorf("%w: domain %q", directory.ErrExists, name), err)
		}
		return nil
	})
}

// Domain returns one domain by name (Unicode or ASCII); an alias domain gives its
// target's record.
func (d *Directory) Domain(ctx context.Context, name string) (directory.Domain, error) {
	a, err := lookupDomainName(name)
	if err != nil {
		return directory.Domain{}, err
	}
	// One statement: the alias's target, else the name itself (domainlife.go).
	dom, err := scanDomain(d.r.QueryRowContext(ctx, `SELECT `+domainReadCols+` FROM domains
		WHERE name = coalesce((SELECT target FROM domain_aliases WHERE name = $1), $1)`, a))
	if errors.Is(err, sql.ErrNoRows) {
		return dom, fmt.Errorf("%w: domain %q", directory.ErrNotFound, a)
	}
	if err != nil {
		return dom, fmt.Errorf("sqlite directory: domain %q: %w", a, err)
	}
	return dom, nil
}

// Domains lists all domains ordered by ASCII name.
func (d *Directory) Domains(ctx context.Context) ([]directory.Domain, error) {
	rows, err := d.r.QueryContext(ctx, `SELECT `+domainReadCols+` FROM domains ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: domains: %w", err)
	}
	var out []directory.Domain
	for rows.Next() {
		dom, err := scanDomain(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: domains: %w", err), rows.Close())
		}
		out = append(out, dom)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: domains: %w", err)
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
	services, err := checkLimits(dom)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		cur, err := getDomain(ctx, tx, name)
		if err != nil {
			return err
		}
		if cur.Deleted() {
			return fmt.Errorf("%w: %q", directory.ErrDomainDeleted, name)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE domains SET enabled = $2, max_message_bytes = $3,
			max_quota_bytes = $4, max_users = $5, disabled_services = $6, max_attachment_bytes = $7 WHERE name = $1`,
			name, boolInt(dom.Enabled), dom.MaxMessageBytes, dom.MaxQuotaBytes, dom.MaxUsers, joinServices(services),
			dom.MaxAttachmentBytes); err != nil {
			return fmt.Errorf("sqlite directory: update domain %q: %w", name, err)
		}
		return nil
	})
}

// DeleteDomain removes a domain. Without force it refuses (ErrDomainNotEmpty) while the
// domain has accounts or aliases. With force, in one transaction, its aliases and accounts
// go too. Either way, alias targets elsewhere that point into the domain are removed (and
// aliases left without targets are deleted): once the domain is gone those addresses would
// otherwise silently turn into remote forwards. Domain-admin grants on it are dropped.
func (d *Directory) DeleteDomain(ctx context.Context, name string, force bool) error {
	a, err := lookupDomainName(name)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, a); err != nil {
			return err
		}
		var accounts, aliases int
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM accounts WHERE domain = $1),
			(SELECT count(*) FROM aliases WHERE domain = $1)`, a).Scan(&accounts, &aliases); err != nil {
			return fmt.Errorf("sqlite directory: delete domain %q: %w", a, err)
		}
		if !force && accounts+aliases > 0 {
			return fmt.Errorf("%w: %q has %d accounts and %d aliases", directory.ErrDomainNotEmpty, a, accounts, aliases)
		}
		return deleteDomainRows(ctx, tx, a)
	})
}

func deleteDomainRows(ctx context.Context, tx *sql.Tx, name string) error {
	// alias_targets of the domain's own aliases and account_admin_domains go by cascade.
	for _, q := range []string{
		`DELETE FROM aliases WHERE domain = $1`,
		`DELETE FROM accounts WHERE domain = $1`,
		// The SMS counters outlive a deleted account (the domain's statistics) but not
		// the domain: a domain created again under the name starts with none.
		`DELETE FROM sms_counts WHERE domain = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, name); err != nil {
			return fmt.Errorf("sqlite directory: delete domain %q: %w", name, err)
		}
	}
	if err := pruneTargets(ctx, tx, `target_domain = $1`, name); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM domains WHERE name = $1`, name); err != nil {
		return fmt.Errorf("sqlite directory: delete domain %q: %w", name, err)
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
	err = d.r.QueryRowContext(ctx, `SELECT enabled <> 0 OR deleted_at <> 0 FROM domains
		WHERE name = coalesce((SELECT target FROM domain_aliases WHERE name = $1), $1)`, a).Scan(&enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite directory: is local domain %q: %w", a, err)
	}
	return enabled, nil
}
