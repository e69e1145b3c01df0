package directory

// The audit log: an append-only record of every administrative change (who, when, what,
// from where), whichever way it came (JSON API, console, CLI). It lives beside the
// directory because it records changes to it and must be shared by every node. Like the
// web credentials (sessions.go) it is an optional add-on found by type assertion; the
// SQLite and PostgreSQL drivers have it. Entries never hold secrets
// (passwords, tokens, TOTP secrets): the writer says that a password changed, not to what.

import (
	"context"
	"time"
)

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID      int64 // increasing: later entries have larger IDs
	At      time.Time
	ActorID int64  // the account that acted; 0 for the system itself (CLI, bootstrap)
	Actor   string // its address, or "cli"/"system"
	Role    Role   // its role when it acted ("" for the system)
	Via     string // "api", "console", "cli"
	Remote  string // the client's IP address, "" when local
	Action  string // dotted verb: "domain.create", "account.update", "token.delete", ...
	Domain  string // the tenant the change touched; "" for installation-wide changes
	Target  string // the object: a domain name, an address, an alias source, a token ID
	Detail  string // what changed, human-readable or JSON; never a secret
}

// AuditQuery selects entries. Zero fields do not filter.
type AuditQuery struct {
	// Domains limits the result to entries of these tenants (a domain admin's view);
	// nil means every entry, an empty non-nil slice means none.
	Domains  []string
	ActorID  int64
	Action   string // exact action, or a prefix ending in "." ("account.")
	Target   string // exact target
	Text     string // substring of actor, target or detail (case-insensitive)
	Since    time.Time
	BeforeID int64 // paging: only entries with a smaller ID
	Limit    int   // at most this many (the driver caps it; 0 = the driver's default)
}

// AuditLog records and searches audit entries.
type AuditLog interface {
	// AppendAudit stores e (its ID assigned) and returns it. Durable when it returns.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// Audit returns the entries matching q, newest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}
