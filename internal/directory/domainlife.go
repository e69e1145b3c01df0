package directory

// Domain lifecycle: deletion with a grace period, alias domains, and who administers a
// domain. Three optional add-ons found by type assertion (DomainLifecycle,
// DomainAliasStore, DomainAdminStore); the SQLite and PostgreSQL drivers have all three.
//
// Deletion (the "trash" model of hosting panels):
//   - MarkDomainDeleted keeps every row of the domain and only stamps it deleted, with the
//     time after which it may be purged (PurgeAt). While deleted, every read of the
//     domain shows Enabled false (the stored switch is kept, so RestoreDomain brings the
//     domain back exactly as it was): its accounts cannot log in (Authenticate gives
//     ErrDisabled), SendAs is refused, and its mail is refused with a permanent error:
//     the domain stays local (IsLocalDomain true, so mail for it is neither relayed nor
//     looped through the queue) and Resolve fails with an error that is both
//     ErrDomainDeleted and ErrDisabled. UpdateDomain of a deleted domain is
//     ErrDomainDeleted; new accounts and aliases are refused as for a disabled domain.
//   - ClaimPurge hands one due domain (PurgeAt passed) to one caller at a time with a
//     lease, so any node may run the purge job; a node that dies mid-purge loses the lease
//     and another node resumes. Claim and restore are conditional updates of the same
//     row, so exactly one of them wins: once claimed, RestoreDomain is ErrGraceOver (and
//     so it is once PurgeAt has passed, claimed or not).
//   - The purge itself (admin.Service) deletes the accounts' mail, then the domain with
//     DeleteDomain(force): both steps are idempotent, so a repeated purge is harmless.
//
// Alias domains: a DomainAlias maps every address of Name to the same local part at
// Target, a real (non-alias) domain. Resolve rewrites the domain and resolves the
// result with all of Target's rules (accounts, aliases, sub-addresses, catch-all);
// alias targets pointing into an alias domain are rewritten the same way. Name can be
// neither a domain nor another alias domain (ErrExists). Logins are by the canonical
// address only: x@alias is not a login name (one identity per account for sessions,
// tokens and the audit log), but SendAs allows x@alias for the account x@target.
// Domain(alias) returns the target's record (its Name is the target), so a front-end
// asking for a recipient's domain limits gets the ones that apply. Alias domains go
// with their target when it is purged.
//
// Administrators: the domains a domain admin manages are its AdminDomains (rows of
// account_admin_domains); an admin may manage several and a domain may have several.
// SetDomainAdmins replaces a domain's set in one transaction ("transfer"); access is
// checked against the directory on every request, so a removed admin loses it at once.

import (
	"context"
	"errors"
	"time"

	"mailgrid/internal/mail"
)

// Errors of the domain lifecycle.
var (
	// ErrDomainDeleted is returned for a change of a deleted domain, and (together with
	// ErrDisabled) when resolving mail for one.
	ErrDomainDeleted = errors.New("domain is deleted")
	// ErrGraceOver is returned when restoring a domain whose purge is due or running.
	ErrGraceOver = errors.New("grace period over: the domain is being purged")
)

// Deleted reports whether d is deleted and awaiting its purge.
func (d Domain) Deleted() bool { return !d.DeletedAt.IsZero() }

// DomainLifecycle is the deletion with grace of a domain. Every method is safe for
// concurrent use, across processes sharing the directory, and has durably committed its
// change when it returns nil.
type DomainLifecycle interface {
	// MarkDomainDeleted marks an existing domain deleted now, to be purged after purgeAt.
	// ErrNotFound if absent, ErrDomainDeleted if already deleted.
	MarkDomainDeleted(ctx context.Context, name string, purgeAt time.Time) error
	// RestoreDomain clears the deletion: the domain is as it was before it. ErrNotFound
	// if absent or not deleted; ErrGraceOver once PurgeAt has passed or a purge claimed it.
	RestoreDomain(ctx context.Context, name string) error
	// ClaimPurge leases one deleted domain whose PurgeAt has passed and whose lease (if
	// any) has expired, until now+lease, and returns its name; "" when none is due.
	ClaimPurge(ctx context.Context, lease time.Duration) (string, error)
}

// DomainAlias maps every address of Name to the same local part at Target.
type DomainAlias struct {
	Name      string // ASCII, lower case
	Target    string // a domain (never an alias domain)
	CreatedAt time.Time
}

// DomainAliasStore keeps alias domains.
type DomainAliasStore interface {
	// CreateDomainAlias adds a.Name as an alias of a.Target (CreatedAt is set by the
	// store). ErrExists if Name is a domain or an alias domain; ErrNotFound if Target is
	// not a domain (an alias domain is not one); ErrDomainDeleted if Target is deleted;
	// ErrInvalid for a bad name or Name equal to Target.
	CreateDomainAlias(ctx context.Context, a DomainAlias) error
	// DomainAliases lists the alias domains of target, or all when target is "",
	// ordered by name.
	DomainAliases(ctx context.Context, target string) ([]DomainAlias, error)
	// DeleteDomainAlias removes an alias domain. ErrNotFound if absent.
	DeleteDomainAlias(ctx context.Context, name string) error
}

// DomainAdminStore reads and replaces who administers a domain.
type DomainAdminStore interface {
	// DomainAdmins lists the domain admins whose AdminDomains include domain, ordered by
	// address key.
	DomainAdmins(ctx context.Context, domain string) ([]Account, error)
	// SetDomainAdmins makes exactly admins the domain's administrators, in one
	// transaction: a user named becomes a domain admin (of this domain only), a domain
	// admin keeps its other domains, and an admin removed from its last domain becomes a
	// user. ErrNotFound for an unknown domain or address; ErrInvalid for a system admin
	// (who administers everything already); ErrDomainDeleted for a deleted domain.
	SetDomainAdmins(ctx context.Context, domain string, admins []mail.Address) error
}
