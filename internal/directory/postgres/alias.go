package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// CreateAlias adds an alias. Source is "local@domain" (any case, Unicode or ASCII domain)
// or "@domain" for the catch-all; Domain may be empty (taken from Source) but must match it
// if given. Targets are parsed and stored in order without duplicates; at least one, at
// most MaxAliasTargets. The domain must exist (ErrNotFound) and be enabled (ErrDisabled).
// The domain row is locked, so an account and an alias can never take one address at
// once, whichever nodes create them.
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
	n := len(targets)
	text, local, key, base, tdom := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, t := range targets {
		b, _ := t.Base()
		text[i], local[i], key[i], base[i], tdom[i] = t.String(), t.Local, t.Key(), b.Key(), t.Domain
	}
	return d.write(ctx, func(tx pgx.Tx) error {
		dm, err := getDomain(ctx, tx, dom, "FOR NO KEY UPDATE")
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
		if err := tx.QueryRow(ctx, `INSERT INTO aliases (domain, source, created_at) VALUES ($1, $2, $3) RETURNING id`,
			dom, source, d.now()).Scan(&id); err != nil {
			if pgCode(err) == codeUniqueViolation {
				return fmt.Errorf("%w: %s", directory.ErrExists, source)
			}
			return fmt.Errorf("postgres directory: create alias %s: %w", source, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO alias_targets (alias_id, pos, target, target_local, target_key, base_key, target_domain)
			SELECT $1, t.ord - 1, t.target, t.local, t.key, t.base, t.dom
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY
				AS t(target, local, key, base, dom, ord)`, id, text, local, key, base, tdom); err != nil {
			return fmt.Errorf("postgres directory: create alias %s: %w", source, err)
		}
		return nil
	})
}

// Aliases lists one domain's aliases ordered by source, or all (by domain, then source)
// when domain is "". ErrNotFound for an unknown domain.
func (d *Directory) Aliases(ctx context.Context, domain string) ([]directory.Alias, error) {
	var out []directory.Alias
	err := d.read(ctx, func(tx pgx.Tx) error {
		where, args := `true`, []any{}
		if domain != "" {
			dom, err := lookupDomain(domain)
			if err != nil {
				return err
			}
			if _, err := getDomain(ctx, tx, dom, ""); err != nil {
				return err
			}
			where, args = `a.domain = $1`, []any{dom}
		}
		rows, err := tx.Query(ctx, `SELECT a.source, a.domain,
			(SELECT array_agg(t.target ORDER BY t.pos) FROM alias_targets t WHERE t.alias_id = a.id)
			FROM aliases a WHERE `+where+` ORDER BY a.domain, a.source`, args...)
		if err == nil {
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Alias, error) {
				var al directory.Alias
				err := r.Scan(&al.Source, &al.Domain, &al.Targets)
				return al, err
			})
		}
		if err != nil {
			return fmt.Errorf("postgres directory: aliases: %w", err)
		}
		return nil
	})
	return out, err
}

// DeleteAlias removes an alias by its Source (any spelling CreateAlias accepts) in domain.
func (d *Directory) DeleteAlias(ctx context.Context, domain, source string) error {
	src, dom, err := aliasSource(source)
	if err != nil {
		return notFound("alias " + source)
	}
	if given, err := lookupDomain(domain); err != nil || given != dom {
		return notFound("alias " + source + " in " + domain)
	}
	tag, err := d.pool.Exec(ctx, `DELETE FROM aliases WHERE source = $1 AND domain = $2`, src, dom)
	if err != nil {
		return fmt.Errorf("postgres directory: delete alias %s: %w", src, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("alias " + src)
	}
	return nil
}
