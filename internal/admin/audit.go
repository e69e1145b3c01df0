package admin

import (
	"context"
	"log/slog"
	"slices"

	"mailgrid/internal/directory"
)

// Audit: Scoped records every change it makes (and front-ends record their own, such as
// API tokens, through Record) in the directory's AuditLog when the driver has one. The
// change has been committed when Record runs, so a failure to record is logged (Service.Log)
// rather than reported to the client as a failed change.

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Record appends an audit entry for a change made by the actor.
func (c *Scoped) Record(ctx context.Context, action, domain, target, detail string) {
	al, ok := c.s.Dir.(directory.AuditLog)
	if !ok {
		return
	}
	e := directory.AuditEntry{ActorID: c.a.Account.ID, Actor: c.a.Name(), Via: c.a.Via, Remote: c.a.Remote,
		Action: action, Domain: domain, Target: target, Detail: detail}
	if !c.a.System {
		e.Role = c.a.Account.Role
	}
	if _, err := al.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		c.s.logger().Error("admin: audit entry lost", "action", action, "target", target, "actor", e.Actor, "err", err)
	}
}

// Audit searches the audit log within the actor's view: a system admin sees everything, a
// domain admin the entries of its domains, a user its own actions. Without an audit log
// the result is empty.
func (c *Scoped) Audit(ctx context.Context, q directory.AuditQuery) ([]directory.AuditEntry, error) {
	al, ok := c.s.Dir.(directory.AuditLog)
	if !ok {
		return nil, nil
	}
	switch vis := c.a.VisibleDomains(); {
	case vis == nil:
	case c.a.Account.Role == directory.RoleDomainAdmin:
		if q.Domains == nil {
			q.Domains = vis
		} else {
			q.Domains = slices.DeleteFunc(slices.Clone(q.Domains), func(d string) bool { return !slices.Contains(vis, d) })
		}
	default:
		q.ActorID = c.a.Account.ID
	}
	return al.Audit(ctx, q)
}
