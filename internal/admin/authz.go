package admin

// Authorisation: who may do what to whom. The rules are pure functions of the actor (its
// account as read from the directory for this request) and the target, so that every
// front-end (JSON API, console, CLI) applies the same ones, and a test can enumerate them.
//
// Roles (ARCHITECTURE.md "Roles"):
//   - a system admin (or the system itself: CLI, bootstrap) may do everything;
//   - a domain admin sees and manages the domains in its AdminDomains and their accounts
//     and aliases, and may act on an account only if it does not outrank them: a user, or
//     a domain admin whose AdminDomains are all among the actor's. Otherwise resetting a
//     co-admin's password would hand over the domains only that co-admin administers. A
//     domain admin never grants system-admin, nor admin rights on a domain it does not
//     administer; it cannot change domains themselves (limits and switches are the system
//     admin's, the plan's ceiling, until service plans exist);
//   - a user sees only its own account and may change only its own password.
//
// Two answers: ErrForbidden (403) for an operation on something the actor can see but may
// not do, directory.ErrNotFound (404) for something outside the actor's tenants, so that
// ids of other tenants cannot be probed. Nobody may demote, disable or delete themselves
// (no accidental lock-out of the last administrator); placement (Shard) is never set
// through this layer by an account: moving mail is the cluster's job.

import (
	"errors"
	"fmt"
	"slices"

	"mailgrid/internal/directory"
)

// ErrForbidden is returned for an operation the actor may not perform.
var ErrForbidden = errors.New("forbidden")

// Actor is who performs an operation.
type Actor struct {
	// Account is the acting account, read from the directory for this request. Zero for
	// the system itself.
	Account directory.Account
	// System marks the installation's operator (CLI, bootstrap): every power, no account.
	System bool
	Via    string // "api", "console", "cli"
	Remote string // client IP, "" when local
}

// SystemActor is the operator acting through a local tool (via: "cli").
func SystemActor(via string) Actor { return Actor{System: true, Via: via} }

// IsSystemAdmin reports whether a has installation-wide powers.
func (a Actor) IsSystemAdmin() bool {
	return a.System || a.Account.Role == directory.RoleSystemAdmin
}

// Name is how the audit log names a.
func (a Actor) Name() string {
	if a.System {
		return a.Via
	}
	return a.Account.Address.String()
}

// AdministersDomain reports whether a manages domain (ASCII name).
func (a Actor) AdministersDomain(domain string) bool {
	if a.IsSystemAdmin() {
		return true
	}
	return a.Account.Role == directory.RoleDomainAdmin && slices.Contains(a.Account.AdminDomains, domain)
}

// VisibleDomains is the tenant scope of a's reads: nil for every domain, else the
// domains a administers (empty for a user).
func (a Actor) VisibleDomains() []string {
	if a.IsSystemAdmin() {
		return nil
	}
	if a.Account.Role == directory.RoleDomainAdmin {
		return append([]string{}, a.Account.AdminDomains...)
	}
	return []string{}
}

func (a Actor) isSelf(t directory.Account) bool {
	return !a.System && t.ID == a.Account.ID && t.ID != 0
}

// CanSeeAccount reports whether a may read account t.
func (a Actor) CanSeeAccount(t directory.Account) bool {
	return a.AdministersDomain(t.Address.Domain) || a.isSelf(t)
}

// outranks reports whether t has powers a lacks (see the file comment).
func (a Actor) outranks(t directory.Account) bool {
	if a.IsSystemAdmin() {
		return false
	}
	switch t.Role {
	case directory.RoleSystemAdmin:
		return true
	case directory.RoleDomainAdmin:
		for _, d := range t.AdminDomains {
			if !a.AdministersDomain(d) {
				return true
			}
		}
	}
	return false
}

// CheckManageAccount decides whether a may change or delete account t at all (fields
// are checked by CheckAccountUpdate).
func (a Actor) CheckManageAccount(t directory.Account) error {
	switch {
	case !a.CanSeeAccount(t):
		return fmt.Errorf("%w: account", directory.ErrNotFound)
	case a.isSelf(t):
		return nil // restricted by field in CheckAccountUpdate
	case a.outranks(t):
		return fmt.Errorf("%w: %s has rights you do not have", ErrForbidden, t.Address)
	}
	return nil
}

// CheckDeleteAccount decides whether a may delete t.
func (a Actor) CheckDeleteAccount(t directory.Account) error {
	if err := a.CheckManageAccount(t); err != nil {
		return err
	}
	if a.isSelf(t) {
		return fmt.Errorf("%w: you cannot delete your own account", ErrForbidden)
	}
	return nil
}

// CheckAccountUpdate decides whether a may apply u to t.
func (a Actor) CheckAccountUpdate(t directory.Account, u directory.AccountUpdate) error {
	if err := a.CheckManageAccount(t); err != nil {
		return err
	}
	if u.Shard != nil && !a.System {
		return fmt.Errorf("%w: shard: placement changes through a user move", ErrForbidden)
	}
	if a.isSelf(t) {
		return checkSelfUpdate(a, u)
	}
	if u.Role != nil || u.AdminDomains != nil {
		role, dom := t.Role, t.AdminDomains
		if u.Role != nil {
			role = *u.Role
			if role != directory.RoleDomainAdmin {
				dom = nil
			}
		}
		if u.AdminDomains != nil {
			dom = *u.AdminDomains
		}
		return a.CheckGrant(role, dom, t.Address.Domain)
	}
	return nil
}

// checkSelfUpdate: on its own account an actor changes only what cannot lock it out or
// raise it; a user only its password (the mass-assignment rule: role, domains, quota,
// services and enabled in a user's own update are refused, not ignored).
func checkSelfUpdate(a Actor, u directory.AccountUpdate) error {
	switch {
	case u.Role != nil:
		return fmt.Errorf("%w: role: you cannot change your own role", ErrForbidden)
	case u.AdminDomains != nil:
		return fmt.Errorf("%w: admin_domains: you cannot change your own rights", ErrForbidden)
	case u.Enabled != nil:
		return fmt.Errorf("%w: enabled: you cannot disable or enable yourself", ErrForbidden)
	case a.IsSystemAdmin() || a.Account.Role == directory.RoleDomainAdmin:
		return nil
	case u.QuotaBytes != nil || u.QuotaMessages != nil:
		return fmt.Errorf("%w: quota: set by your administrator", ErrForbidden)
	case u.DisabledServices != nil:
		return fmt.Errorf("%w: disabled_services: set by your administrator", ErrForbidden)
	}
	return nil
}

// CheckGrant decides whether a may give an account of domain own the role and admin
// domains (normalised as the directory does: a domain admin with none administers own).
func (a Actor) CheckGrant(role directory.Role, adminDomains []string, own string) error {
	if a.IsSystemAdmin() {
		return nil
	}
	if !a.AdministersDomain(own) {
		return fmt.Errorf("%w: accounts of %s", ErrForbidden, own)
	}
	switch role {
	case "", directory.RoleUser:
		return nil
	case directory.RoleDomainAdmin:
		if len(adminDomains) == 0 {
			adminDomains = []string{own}
		}
		for _, d := range adminDomains {
			if !a.AdministersDomain(d) {
				return fmt.Errorf("%w: admin_domains: you do not administer %s", ErrForbidden, d)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: role: you cannot grant %q", ErrForbidden, role)
}

// CheckCreateAccount decides whether a may create n.
func (a Actor) CheckCreateAccount(n directory.NewAccount) error {
	if a.Account.Role == directory.RoleUser && !a.System {
		return fmt.Errorf("%w: only administrators create accounts", ErrForbidden)
	}
	if !a.AdministersDomain(n.Address.Domain) {
		return fmt.Errorf("%w: domain %s", directory.ErrNotFound, n.Address.Domain)
	}
	if n.Shard != "" && !a.System {
		return fmt.Errorf("%w: shard: placement decides", ErrForbidden)
	}
	return a.CheckGrant(n.Role, n.AdminDomains, n.Address.Domain)
}

// CheckDomain decides whether a may read domain (ErrNotFound outside its tenants).
func (a Actor) CheckDomain(domain string) error {
	if !a.AdministersDomain(domain) {
		return fmt.Errorf("%w: domain %s", directory.ErrNotFound, domain)
	}
	return nil
}

// CheckChangeDomains decides whether a may create, change or delete domains.
func (a Actor) CheckChangeDomains() error {
	if !a.IsSystemAdmin() {
		return fmt.Errorf("%w: only a system administrator changes domains", ErrForbidden)
	}
	return nil
}
