package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/filter"
)

var (
	_ filter.BlockLists  = (*DB)(nil)
	_ filter.DomainRules = (*DB)(nil)
)

// AddBlock implements filter.BlockLists.
func (d *DB) AddBlock(ctx context.Context, e filter.BlockEntry) error {
	if e.Created.IsZero() {
		e.Created = d.now()
	}
	res, err := d.wdb.ExecContext(ctx, `INSERT INTO block_list (domain, kind, value, note, created) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, e.Domain, int(e.Kind), e.Value, e.Note, e.Created.Unix())
	if err != nil {
		return dbErr("add block", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("add block", err)
	} else if n == 0 {
		return fmt.Errorf("block %s %s: %w", e.Kind, e.Value, filter.ErrExists)
	}
	return nil
}

// RemoveBlock implements filter.BlockLists.
func (d *DB) RemoveBlock(ctx context.Context, domain string, kind filter.BlockKind, value string) error {
	res, err := d.wdb.ExecContext(ctx, `DELETE FROM block_list WHERE domain = $1 AND kind = $2 AND value = $3`, domain, int(kind), value)
	if err != nil {
		return dbErr("remove block", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("remove block", err)
	} else if n == 0 {
		return fmt.Errorf("block %s %s: %w", kind, value, filter.ErrNotFound)
	}
	return nil
}

// Blocks implements filter.BlockLists.
func (d *DB) Blocks(ctx context.Context, domain string) ([]filter.BlockEntry, error) {
	rows, err := d.rdb.QueryContext(ctx, `SELECT kind, value, note, created FROM block_list WHERE domain = $1 ORDER BY kind, value`, domain)
	if err != nil {
		return nil, dbErr("blocks", err)
	}
	defer d.closeRows(rows)
	var out []filter.BlockEntry
	for rows.Next() {
		e := filter.BlockEntry{Domain: domain}
		var kind int
		var created int64
		if err := rows.Scan(&kind, &e.Value, &e.Note, &created); err != nil {
			return nil, dbErr("blocks", err)
		}
		e.Kind, e.Created = filter.BlockKind(kind), time.Unix(created, 0).UTC()
		out = append(out, e)
	}
	return out, dbErr("blocks", rows.Err())
}

// PutDomainRule implements filter.DomainRules.
func (d *DB) PutDomainRule(ctx context.Context, r filter.DomainRule) (filter.DomainRule, error) {
	conds, err := json.Marshal(r.Conditions)
	if err != nil {
		return r, fmt.Errorf("filter/sqlite: rule conditions: %w", err)
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if r.ID == 0 {
			return tx.QueryRowContext(ctx, `INSERT INTO domain_rules (domain, name, position, enabled, match_any, conditions, action, arg)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, r.Domain, r.Name, r.Position, r.Enabled, r.MatchAny,
				string(conds), string(r.Action), r.Arg).Scan(&r.ID)
		}
		res, err := tx.ExecContext(ctx, `UPDATE domain_rules SET name = $1, position = $2, enabled = $3, match_any = $4,
			conditions = $5, action = $6, arg = $7 WHERE id = $8 AND domain = $9`, r.Name, r.Position, r.Enabled, r.MatchAny,
			string(conds), string(r.Action), r.Arg, r.ID, r.Domain)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("rule %d: %w", r.ID, filter.ErrNotFound)
		}
		return nil
	})
	if err != nil && !errors.Is(err, filter.ErrNotFound) {
		err = dbErr("put rule", err)
	}
	return r, err
}

// DeleteDomainRule implements filter.DomainRules.
func (d *DB) DeleteDomainRule(ctx context.Context, domain string, id int64) error {
	res, err := d.wdb.ExecContext(ctx, `DELETE FROM domain_rules WHERE id = $1 AND domain = $2`, id, domain)
	if err != nil {
		return dbErr("delete rule", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return dbErr("delete rule", err)
	} else if n == 0 {
		return fmt.Errorf("rule %d: %w", id, filter.ErrNotFound)
	}
	return nil
}

// DomainRules implements filter.DomainRules.
func (d *DB) DomainRules(ctx context.Context, domain string) ([]filter.DomainRule, error) {
	rows, err := d.rdb.QueryContext(ctx, `SELECT id, name, position, enabled, match_any, conditions, action, arg
		FROM domain_rules WHERE domain = $1 ORDER BY position, id`, domain)
	if err != nil {
		return nil, dbErr("rules", err)
	}
	defer d.closeRows(rows)
	var out []filter.DomainRule
	for rows.Next() {
		r := filter.DomainRule{Domain: domain}
		var conds, action string
		if err := rows.Scan(&r.ID, &r.Name, &r.Position, &r.Enabled, &r.MatchAny, &conds, &action, &r.Arg); err != nil {
			return nil, dbErr("rules", err)
		}
		if err := json.Unmarshal([]byte(conds), &r.Conditions); err != nil {
			return nil, fmt.Errorf("filter/sqlite: rule %d conditions: %w", r.ID, err)
		}
		r.Action = filter.RuleAction(action)
		out = append(out, r)
	}
	return out, dbErr("rules", rows.Err())
}

func (d *DB) closeRows(rows *sql.Rows) {
	if err := rows.Close(); err != nil {
		d.log.Warn("filter/sqlite: close rows", "err", err)
	}
}
