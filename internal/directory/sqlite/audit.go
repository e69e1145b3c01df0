package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"mailgrid/internal/directory"
)

// The audit log (directory.AuditLog), table audit_log.

// Audit result sizes: the default page and the cap.
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 1000
)

const auditCols = `id, at, actor_id, actor, role, via, remote, action, domain, target, detail`

func scanAudit(s scanner) (directory.AuditEntry, error) {
	var e directory.AuditEntry
	var at int64
	err := s.Scan(&e.ID, &at, &e.ActorID, &e.Actor, &e.Role, &e.Via, &e.Remote, &e.Action, &e.Domain, &e.Target, &e.Detail)
	e.At = fromMicros(at)
	return e, err
}

// AppendAudit stores one entry.
func (d *Directory) AppendAudit(ctx context.Context, e directory.AuditEntry) (directory.AuditEntry, error) {
	if e.Action == "" {
		return e, fmt.Errorf("%w: audit entry without action", directory.ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = d.now()
	}
	err := d.write(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor_id, actor, role, via, remote, action,
			domain, target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			micros(e.At), e.ActorID, e.Actor, string(e.Role), e.Via, e.Remote, e.Action, e.Domain, e.Target,
			e.Detail).Scan(&e.ID); err != nil {
			return fmt.Errorf("sqlite directory: append audit: %w", err)
		}
		return nil
	})
	return e, err
}

// Audit searches the log, newest first.
func (d *Directory) Audit(ctx context.Context, q directory.AuditQuery) ([]directory.AuditEntry, error) {
	if q.Domains != nil && len(q.Domains) == 0 {
		return nil, nil
	}
	where, args := auditWhere(q)
	limit := q.Limit
	if limit <= 0 {
		limit = auditDefaultLimit
	}
	args = append(args, min(limit, auditMaxLimit))
	return queryAll(ctx, d.r, scanAudit, "audit", `SELECT `+auditCols+` FROM audit_log WHERE `+where+
		fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args...)
}

// auditWhere builds the WHERE clause of q with numbered placeholders.
func auditWhere(q directory.AuditQuery) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v ...any) {
		for _, x := range v {
			args = append(args, x)
			cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		conds = append(conds, cond)
	}
	if q.Domains != nil {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(q.Domains)), ", ")
		vals := make([]any, len(q.Domains))
		for i, dom := range q.Domains {
			vals[i] = dom
		}
		add(`domain IN (`+marks+`)`, vals...)
	}
	if q.ActorID != 0 {
		add(`actor_id = ?`, q.ActorID)
	}
	if strings.HasSuffix(q.Action, ".") {
		add(`substr(action, 1, ?) = ?`, len(q.Action), q.Action)
	} else if q.Action != "" {
		add(`action = ?`, q.Action)
	}
	if q.Target != "" {
		add(`target = ?`, q.Target)
	}
	if q.Text != "" {
		t := strings.ToLower(q.Text)
		add(`(instr(lower(actor), ?) > 0 OR instr(lower(target), ?) > 0 OR instr(lower(detail), ?) > 0)`, t, t, t)
	}
	if !q.Since.IsZero() {
		add(`at >= ?`, micros(q.Since))
	}
	if q.BeforeID > 0 {
		add(`id < ?`, q.BeforeID)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}
