package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// The audit log (directory.AuditLog), table audit_log. IDs come from an identity column:
// increasing in commit order for entries appended one after another, which is what the
// log's readers rely on (paging by BeforeID, newest first).

// Audit result sizes: the default page and the cap (as in the SQLite driver).
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 1000
)

var _ directory.AuditLog = (*Directory)(nil)

const auditCols = `id, at, actor_id, actor, role, via, remote, action, domain, target, detail`

func scanAudit(row pgx.Row) (directory.AuditEntry, error) {
	var e directory.AuditEntry
	var role string
	err := row.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &role, &e.Via, &e.Remote, &e.Action, &e.Domain, &e.Target, &e.Detail)
	e.Role, e.At = directory.Role(role), e.At.UTC()
	return e, err
}

// AppendAudit stores one entry; a zero At is now.
func (d *Directory) AppendAudit(ctx context.Context, e directory.AuditEntry) (directory.AuditEntry, error) {
	if e.Action == "" {
		return e, fmt.Errorf("%w: audit entry without action", directory.ErrInvalid)
	}
	if e.At.IsZero() {
		e.At = d.now()
	}
	// Not retried: an INSERT of a new row neither deadlocks nor fails serialization
	// under READ COMMITTED, and a blind retry could record the change twice.
	err := d.pool.QueryRow(ctx, `INSERT INTO audit_log (at, actor_id, actor, role, via, remote, action,
		domain, target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		e.At, e.ActorID, e.Actor, string(e.Role), e.Via, e.Remote, e.Action, e.Domain, e.Target, e.Detail).Scan(&e.ID)
	if err != nil {
		return e, fmt.Errorf("postgres directory: append audit: %w", err)
	}
	return e, nil
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
	return queryAll(ctx, d.pool, scanAudit, "audit", `SELECT `+auditCols+` FROM audit_log WHERE `+where+
		fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args...)
}

// auditWhere builds the WHERE clause of q with numbered placeholders.
func auditWhere(q directory.AuditQuery) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(args))))
	}
	if q.Domains != nil {
		add(`domain = ANY(?::text[])`, q.Domains)
	}
	if q.ActorID != 0 {
		add(`actor_id = ?`, q.ActorID)
	}
	if strings.HasSuffix(q.Action, ".") {
		add(`starts_with(action, ?::text)`, q.Action)
	} else if q.Action != "" {
		add(`action = ?`, q.Action)
	}
	if q.Target != "" {
		add(`target = ?`, q.Target)
	}
	if q.Text != "" {
		// Case-insensitive substring, no LIKE pattern: the user's % and _ are literal.
		// target is COLLATE "C", under which lower() folds ASCII only: use the default.
		add(`(strpos(lower(actor), ?::text) > 0 OR strpos(lower(target COLLATE "default"), ?::text) > 0
			OR strpos(lower(detail), ?::text) > 0)`, strings.ToLower(q.Text))
	}
	if !q.Since.IsZero() {
		add(`at >= ?`, q.Since)
	}
	if q.BeforeID > 0 {
		add(`id < ?`, q.BeforeID)
	}
	if len(conds) == 0 {
		return "true", nil
	}
	return strings.Join(conds, " AND "), args
}
