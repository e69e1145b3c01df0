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

// MaxAliasTargets bounds the targets of one alias (a mailing list belongs elsewhere).
const MaxAliasTargets = 1000

// aliasSource normalises an alias source: "local@domain" to its key form, "@domain" (a
// catch-all) to "@" and the ASCII domain. It returns the source and its domain.
func aliasSource(src string) (source, domain string, err error) {
	if rest, ok := strings.CutPrefix(src, "@"); ok {
		dom, err := normDomain(rest)
		if err != nil {
			return "", "", err
		}
		return "@" + dom, dom, nil
	}
	a, err := mail.Parse(src)
	if err != nil {
		return "", "", fmt.Errorf("%w: alias source %q: %v", directory.ErrInvalid, src, err)
	}
	return a.Key(), a.Domain, nil
}

// aliasTargets parses and de-duplicates (by key, keeping the first) an alias's targets.
func aliasTargets(source string, targets []string) ([]mail.Address, error) {
	if len(targets) == 0 || len(targets) > MaxAliasTargets {
		return nil, fmt.Errorf("%w: an alias needs 1 to %d targets", directory.ErrInvalid, MaxAliasTargets)
	}
	seen := make(map[string]bool, len(targets))
	out := make([]mail.Address, 0, len(targets))
	for _, t := range targets {
		a, err := mail.Parse(t)
		if err != nil {
			return nil, fmt.Errorf("%w: alias target %q: %v", directory.ErrInvalid, t, err)
		}
		if a.Key() == source {
			return nil, fmt.Errorf("%w: alias %q targets itself", directory.ErrInvalid, source)
		}
		if !seen[a.Key()] {
			seen[a.Key()] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// CreateAlias adds an alias. Source is "local@domain" (any case, Unicode or ASCII domain)
// or "@domain" for the catch-all; Domain may be empty (taken from Source) but must match it
// if given. Targets are parsed and stored in order without duplicates; at least one, at
// most MaxAliasTargets. The domain must exist (ErrNotFound) and be enabled (ErrDisabled).
func (d *Directory) CreateAlias(ctx context.Context, al directory.Alias) error {
	source, dom, err := aliasSource(al.Source)
	if err != nil {
		return err
	}
	if al.Domain != "" {
		if given, err := normDomain(al.Domain); err != nil || given != dom {
			return fmt.Errorf("%w: alias %q is not in domain %q", directory.ErrInvalid, source, al.Domain)
		}
	}
	targets, err := aliasTargets(source, al.Targets)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		dm, err := getDomain(ctx, tx, dom)
		if err != nil {
			return err
		}
		if !dm.Enabled {
			return fmt.Errorf("%w: domain %q", directory.ErrDisabled, dom)
		}
		if err := checkAddressFree(ctx, tx, source); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO aliases (domain, source, created_at) VALUES ($1, $2, $3) RETURNING id`,
			dom, source, micros(d.now())).Scan(&id); err != nil {
			return fmt.Errorf("sqlite directory: create alias %s: %w", source, err)
		}
		for i, t := range targets {
			base, _ := t.Base()
			if _, err := tx.ExecContext(ctx, `INSERT INTO alias_targets (alias_id, pos, target, target_local, target_domain, target_key, base_key)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, i, t.String(), t.Local, t.Domain, t.Key(), base.Key()); err != nil {
				return fmt.Errorf("sqlite directory: create alias %s: %w", source, err)
			}
		}
		return nil
	})
}

// Aliases lists one domain's aliases ordered by source, or all (by domain, then source)
// when domain is "". ErrNotFound for an unknown domain.
func (d *Directory) Aliases(ctx context.Context, domain string) ([]directory.Alias, error) {
	var out []directory.Alias
	err := d.read(ctx, func(tx *sql.Tx) error {
		where, args := `1`, []any{}
		if domain != "" {
			dom, err := lookupDomainName(domain)
			if err != nil {
				return err
			}
			if _, err := getDomain(ctx, tx, dom); err != nil {
				return err
			}
			where, args = `a.domain = $1`, []any{dom}
		}
		var err error
		out, err = listAliases(ctx, tx, where, args...)
		return err
	})
	return out, err
}

func listAliases(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]directory.Alias, error) {
	rows, err := tx.QueryContext(ctx, `SELECT a.id, a.domain, a.source, t.target
		FROM aliases a JOIN alias_targets t ON t.alias_id = a.id
		WHERE `+where+` ORDER BY a.domain, a.source, t.pos`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: aliases: %w", err)
	}
	var out []directory.Alias
	lastID := int64(-1)
	for rows.Next() {
		var id int64
		var al directory.Alias
		var target string
		if err := rows.Scan(&id, &al.Domain, &al.Source, &target); err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: aliases: %w", err), rows.Close())
		}
		if id != lastID {
			out = append(out, al)
			lastID = id
		}
		last := &out[len(out)-1]
		last.Targets = append(last.Targets, target)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: aliases: %w", err)
	}
	return out, nil
}

// DeleteAlias removes an alias by its Source (any spelling aliasSource accepts) in domain.
func (d *Directory) DeleteAlias(ctx context.Context, domain, source string) error {
	src, dom, err := aliasSource(source)
	if err != nil {
		return notFound("alias " + source)
	}
	if given, err := lookupDomainName(domain); err != nil || given != dom {
		return notFound("alias " + source + " in " + domain)
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM aliases WHERE source = $1 AND domain = $2`, src, dom)
		if err != nil {
			return fmt.Errorf("sqlite directory: delete alias %s: %w", src, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(notFound("alias "+src), err)
		}
		return nil
	})
}
