package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/sqlkit"
)

// DomainSwitches implements filter.DomainSwitches.
func (s *Store) DomainSwitches(ctx context.Context, domain string) (filter.Switches, error) {
	var sw filter.Switches
	err := s.R.QueryRow(ctx, `SELECT no_antivirus, no_antispam FROM domain_switches WHERE domain = $1`, domain).
		Scan(&sw.NoAntivirus, &sw.NoAntispam)
	if errors.Is(err, sqlkit.ErrNoRows) {
		return filter.Switches{}, nil
	}
	return sw, s.Err("domain switches", err)
}

// SetDomainSwitches implements filter.DomainSwitches.
func (s *Store) SetDomainSwitches(ctx context.Context, domain string, sw filter.Switches) error {
	_, err := s.W.Exec(ctx, `INSERT INTO domain_switches (domain, no_antivirus, no_antispam) VALUES ($1, $2, $3)
		ON CONFLICT (domain) DO UPDATE SET no_antivirus = excluded.no_antivirus, no_antispam = excluded.no_antispam`,
		domain, sw.NoAntivirus, sw.NoAntispam)
	return s.Err("set domain switches", err)
}

// AddBlock implements filter.BlockLists.
func (s *Store) AddBlock(ctx context.Context, e filter.BlockEntry) error {
	if e.Created.IsZero() {
		e.Created = s.Now()
	}
	n, err := s.W.Exec(ctx, `INSERT INTO block_list (domain, kind, value, note, created) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, e.Domain, int(e.Kind), e.Value, e.Note, e.Created.Unix())
	if err != nil {
		return s.Err("add block", err)
	}
	if n == 0 {
		return fmt.Errorf("block %s %s: %w", e.Kind, e.Value, filter.ErrExists)
	}
	return nil
}

// RemoveBlock implements filter.BlockLists.
func (s *Store) RemoveBlock(ctx context.Context, domain string, kind filter.BlockKind, value string) error {
	n, err := s.W.Exec(ctx, `DELETE FROM block_list WHERE domain = $1 AND kind = $2 AND value = $3`, domain, int(kind), value)
	if err := s.OneRow(n, err, "remove block"); err != nil {
		if errors.Is(err, filter.ErrNotFound) {
			return fmt.Errorf("block %s %s: %w", kind, value, filter.ErrNotFound)
		}
		return err
	}
	return nil
}

// Blocks implements filter.BlockLists.
func (s *Store) Blocks(ctx context.Context, domain string) ([]filter.BlockEntry, error) {
	out, err := sqlkit.All(ctx, s.R, func(r sqlkit.Row) (filter.BlockEntry, error) {
		e := filter.BlockEntry{Domain: domain}
		var kind int
		var created int64
		err := r.Scan(&kind, &e.Value, &e.Note, &created)
		e.Kind, e.Created = filter.BlockKind(kind), time.Unix(created, 0).UTC()
		return e, err
	}, `SELECT kind, value, note, created FROM block_list WHERE domain = $1 ORDER BY kind, value`, domain)
	return out, s.Err("blocks", err)
}

// PutDomainRule implements filter.DomainRules: one INSERT for a new rule (ID 0), else
// one UPDATE of the domain's rule.
func (s *Store) PutDomainRule(ctx context.Context, r filter.DomainRule) (filter.DomainRule, error) {
	conds, err := json.Marshal(r.Conditions)
	if err != nil {
		return r, s.Err("rule conditions", err)
	}
	if r.ID == 0 {
		err := s.W.QueryRow(ctx, `INSERT INTO domain_rules (domain, name, position, enabled, match_any, conditions, action, arg)
			VALUES ($1, $2, $3, $4, $5, $6`+s.JSONParam+`, $7, $8) RETURNING id`, r.Domain, r.Name, r.Position, r.Enabled, r.MatchAny,
			string(conds), string(r.Action), r.Arg).Scan(&r.ID)
		return r, s.Err("put rule", err)
	}
	n, err := s.W.Exec(ctx, `UPDATE domain_rules SET name = $1, position = $2, enabled = $3, match_any = $4,
		conditions = $5`+s.JSONParam+`, action = $6, arg = $7 WHERE id = $8 AND domain = $9`, r.Name, r.Position, r.Enabled, r.MatchAny,
		string(conds), string(r.Action), r.Arg, r.ID, r.Domain)
	if err := s.OneRow(n, err, "put rule"); err != nil {
		if errors.Is(err, filter.ErrNotFound) {
			return r, fmt.Errorf("rule %d: %w", r.ID, filter.ErrNotFound)
		}
		return r, err
	}
	return r, nil
}

// DeleteDomainRule implements filter.DomainRules.
func (s *Store) DeleteDomainRule(ctx context.Context, domain string, id int64) error {
	n, err := s.W.Exec(ctx, `DELETE FROM domain_rules WHERE id = $1 AND domain = $2`, id, domain)
	if err := s.OneRow(n, err, "delete rule"); err != nil {
		if errors.Is(err, filter.ErrNotFound) {
			return fmt.Errorf("rule %d: %w", id, filter.ErrNotFound)
		}
		return err
	}
	return nil
}

// DomainRules implements filter.DomainRules.
func (s *Store) DomainRules(ctx context.Context, domain string) ([]filter.DomainRule, error) {
	out, err := sqlkit.All(ctx, s.R, func(row sqlkit.Row) (filter.DomainRule, error) {
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
	}, `SELECT id, name, position, enabled, match_any, conditions`+s.JSONText+`, action, arg
		FROM domain_rules WHERE domain = $1 ORDER BY position, id`, domain)
	return out, s.Err("rules", err)
}
