package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/filter"
)

// AddBlock implements filter.BlockLists.
func (d *DB) AddBlock(ctx context.Context, e filter.BlockEntry) error {
	if e.Created.IsZero() {
		e.Created = d.now()
	}
	tag, err := d.pool.Exec(ctx, `INSERT INTO block_list (domain, kind, value, note, created) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, e.Domain, int16(e.Kind), e.Value, e.Note, e.Created.Unix())
	if err != nil {
		return dbErr("add block", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("block %s %s: %w", e.Kind, e.Value, filter.ErrExists)
	}
	return nil
}

// RemoveBlock implements filter.BlockLists.
func (d *DB) RemoveBlock(ctx context.Context, domain string, kind filter.BlockKind, value string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM block_list WHERE domain = $1 AND kind = $2 AND value = $3`, domain, int16(kind), value)
	if err := oneRow(tag, err, "remove block"); err != nil {
		if errors.Is(err, filter.ErrNotFound) {
			return fmt.Errorf("block %s %s: %w", kind, value, filter.ErrNotFound)
		}
		return err
	}
	return nil
}

// Blocks implements filter.BlockLists.
func (d *DB) Blocks(ctx context.Context, domain string) ([]filter.BlockEntry, error) {
	rows, err := d.pool.Query(ctx, `SELECT kind, value, note, created FROM block_list WHERE domain = $1 ORDER BY kind, value`, domain)
	if err != nil {
		return nil, dbErr("blocks", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (filter.BlockEntry, error) {
		e := filter.BlockEntry{Domain: domain}
		var kind int16
		var created int64
		err := r.Scan(&kind, &e.Value, &e.Note, &created)
		e.Kind, e.Created = filter.BlockKind(kind), time.Unix(created, 0).UTC()
		return e, err
	})
	return out, dbErr("blocks", err)
}

// PutDomainRule implements filter.DomainRules.
func (d *DB) PutDomainRule(ctx context.Context, r filter.DomainRule) (filter.DomainRule, error) {
	conds, err := json.Marshal(r.Conditions)
	if err != nil {
		return r, fmt.Errorf("filter/postgres: rule conditions: %w", err)
	}
	if r.ID == 0 {
		err := d.pool.QueryRow(ctx, `INSERT INTO domain_rules (domain, name, position, enabled, match_any, conditions, action, arg)
			VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8) RETURNING id`, r.Domain, r.Name, r.Position, r.Enabled, r.MatchAny,
			string(conds), string(r.Action), r.Arg).Scan(&r.ID)
		return r, dbErr("put rule", err)
	}
	tag, err := d.pool.Exec(ctx, `UPDATE domain_rules SET name = $1, position = $2, enabled = $3, match_any = $4,
		conditions = $5::text::jsonb, action = $6, arg = $7 WHERE id = $8 AND domain = $9`, r.Name, r.Position, r.Enabled, r.MatchAny,
		string(conds), string(r.Action), r.Arg, r.ID, r.Domain)
	if err := oneRow(tag, err, "put rule"); err != nil {
		if errors.Is(err, filter.ErrNotFound) {
			return r, fmt.Errorf("rule %d: %w", r.ID, filter.ErrNotFound)
		}
		return r, err
	}
	return r, nil
}

// DeleteDomainRule implements filter.DomainRules.
func (d *DB) DeleteDomainRule(ctx context.Context, domain string, id int64) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM domain_rules WHERE id = $1 AND domain = $2`, id, domain)
	if err := oneRow(tag, err, "delete rule"); err != nil {
		if errors.Is(err, filter.ErrNotFound) {
			return fmt.Errorf("rule %d: %w", id, filter.ErrNotFound)
		}
		return err
	}
	return nil
}

// DomainRules implements filter.DomainRules.
func (d *DB) DomainRules(ctx context.Context, domain string) ([]filter.DomainRule, error) {
	rows, err := d.pool.Query(ctx, `SELECT id, name, position, enabled, match_any, conditions::text, action, arg
		FROM domain_rules WHERE domain = $1 ORDER BY position, id`, domain)
	if err != nil {
		return nil, dbErr("rules", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (filter.DomainRule, error) {
		r := filter.DomainRule{Domain: domain}
		var conds, action string
		if err := row.Scan(&r.ID, &r.Name, &r.Position, &r.Enabled, &r.MatchAny, &conds, &action, &r.Arg); err != nil {
			return r, err
		}
		if err := json.Unmarshal([]byte(conds), &r.Conditions); err != nil {
			return r, fmt.Errorf("rule %d conditions: %w", r.ID, err)
		}
		r.Action = filter.RuleAction(action)
		return r, nil
	})
	return out, dbErr("rules", err)
}
