// Package directory is mailgrid's source of truth for who exists and where their mail lives:
// domains (tenants) with their limits, accounts with credentials, quotas and roles, aliases,
// and the placement of each account on a store shard.
//
// Model:
//   - A Domain is a tenant. Its name is the ASCII (A-label) lower-case form (see package mail).
//     Per-domain limits bound what its accounts may use; zero means "no limit".
//   - An Account is a mailbox owner, addressed local@domain. Login names are the full address.
//     Passwords are stored as argon2id PHC strings (see password.go), never in clear.
//   - An Alias maps one address, or "@domain" (catch-all), to one or more targets, which are
//     local accounts or remote addresses.
//   - Placement: each account names the shard that holds its mail (Account.Shard). The single
//     node shape has one shard, "local".
//   - Service switches: a Domain and an Account each carry DisabledServices, a sorted list
//     of service names without duplicates (ServiceIMAP, ServicePOP3, ServiceSubmission,
//     ServiceWebmail, ServiceManageSieve; Services lists them all). A service is allowed
//     for an account only when neither its domain nor the account itself disables it
//     (ServiceAllowed): the domain switch is the tenant's (or its plan's) ceiling, the
//     account switch narrows it further, and an account can never re-enable what its
//     domain disabled. The switches are independent of Enabled: a disabled account or
//     domain is refused by Authenticate whatever its services, and a disabled service
//     refuses only that protocol's logins, never deliveries. Front-ends check
//     ServiceAllowed right after a successful Authenticate, with the account's domain
//     read from the directory (Directory.Domain), so a change applies to the next login
//     on every node; sessions already logged in are not cut off.
//
// Resolution order for an incoming recipient (Resolve): exact account, exact alias, the same
// two for the base address with its "+detail" removed (sub-addressing), then the catch-all.
// Accounts win over aliases so an alias can never hijack an existing mailbox.
//
// Every call names its tenant explicitly; there is no ambient "current user". Drivers live in
// sub-packages (sqlite now, postgres later) and must pass directorytest.
package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"mailgrid/internal/mail"
)

// Role of an account.
type Role string

const (
	RoleUser        Role = "user"
	RoleDomainAdmin Role = "domain-admin"
	RoleSystemAdmin Role = "system-admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	return r == RoleUser || r == RoleDomainAdmin || r == RoleSystemAdmin
}

// LocalShard is the name of the single shard of the embedded shape.
const LocalShard = "local"

// Service names: the protocols a domain or an account can be switched off for.
const (
	ServiceIMAP        = "imap"        // IMAP4rev1/rev2 logins (RFC 3501, RFC 9051)
	ServicePOP3        = "pop3"        // POP3 logins (RFC 1939)
	ServiceSubmission  = "submission"  // authenticated SMTP (RFC 6409, RFC 4954)
	ServiceWebmail     = "webmail"     // webmail sign-in
	ServiceManageSieve = "managesieve" // ManageSieve logins (RFC 5804)
	ServiceSMS         = "sms"         // SMS notifications and "send as SMS" (when the plan has SMS)
)

// Services returns every service name, sorted (a new slice each call: no package-level
// mutable state).
func Services() []string {
	return []string{ServiceIMAP, ServiceManageSieve, ServicePOP3, ServiceSMS, ServiceSubmission, ServiceWebmail}
}

// ValidService reports whether name is a known service.
func ValidService(name string) bool {
	switch name {
	case ServiceIMAP, ServiceManageSieve, ServicePOP3, ServiceSMS, ServiceSubmission, ServiceWebmail:
		return true
	}
	return false
}

// NormServices validates and normalises a DisabledServices list: names are folded to
// lower case, sorted and de-duplicated; an unknown or empty name is ErrInvalid. An empty
// list gives nil. Drivers apply it to every list they store.
func NormServices(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
		if !ValidService(out[i]) {
			return nil, fmt.Errorf("%w: service %q (want one of %s)", ErrInvalid, n, strings.Join(Services(), ", "))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ServiceAllowed reports whether account a may use service: false when its domain d or
// the account itself disables it. It is pure: the caller reads d (the account's own
// domain) from the directory; a d that is not a's domain, or an unknown service name,
// gives false, so a mistake refuses rather than allows. Enabled is not looked at here:
// Authenticate already refuses disabled accounts and domains.
func ServiceAllowed(d Domain, a Account, service string) bool {
	return ValidService(service) && d.Name != "" && d.Name == a.Address.Domain &&
		!slices.Contains(d.DisabledServices, service) && !slices.Contains(a.DisabledServices, service)
}

// Errors. Drivers wrap or return these so callers can test with errors.Is.
var (
	ErrNotFound       = errors.New("not found")
	ErrExists         = errors.New("already exists")
	ErrLimit          = errors.New("domain limit reached")
	ErrInvalid        = errors.New("invalid value")
	ErrAuthFailed     = errors.New("authentication failed")
	ErrDisabled       = errors.New("disabled")
	ErrDomainNotEmpty = errors.New("domain still has accounts or aliases")
)

// InvalidError is an ErrInvalid whose reason a user reads: a format and its arguments,
// so a front-end can show it in the user's language (the webmail's catalogue is keyed by
// the English format). errors.Is(err, ErrInvalid).
type InvalidError struct {
	Format string
	Args   []any
}

func (e *InvalidError) Error() string {
	return ErrInvalid.Error() + ": " + fmt.Sprintf(e.Format, e.Args...)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns an *InvalidError with the reason format and args.
func Invalid(format string, args ...any) error { return &InvalidError{Format: format, Args: args} }

// Domain is a tenant and its limits. Zero limits mean unlimited.
type Domain struct {
	Name            string // ASCII, lower case
	Enabled         bool
	MaxMessageBytes int64 // largest message accepted for or from this domain
	MaxQuotaBytes   int64 // largest quota an account of this domain may have; also the default quota
	MaxUsers        int   // number of accounts
	// MaxAttachmentBytes is the largest attachment (decoded) a message of the domain may
	// carry, within its plan's; 0: the plan's (Plan.MaxAttachmentBytes) applies.
	MaxAttachmentBytes int64
	// DisabledServices are the services no account of the domain may use (see
	// ServiceAllowed); sorted, no duplicates, nil when none.
	DisabledServices []string
	CreatedAt        time.Time
	// DeletedAt and PurgeAt are set while the domain is deleted and awaiting its purge
	// (domainlife.go); zero otherwise. A deleted domain reads as Enabled false.
	DeletedAt time.Time
	PurgeAt   time.Time
}

// AttachmentLimit is the largest attachment a message of the domain may carry, given its
// plan's limit (0 without a plan or limit): the domain's own when set and tighter, else
// the plan's; 0 means none.
func (d Domain) AttachmentLimit(plan int64) int64 {
	if d.MaxAttachmentBytes > 0 && (plan == 0 || d.MaxAttachmentBytes < plan) {
		return d.MaxAttachmentBytes
	}
	return plan
}

// Account is a mailbox owner.
type Account struct {
	ID            int64
	Address       mail.Address // canonical: local part as created, domain ASCII
	PasswordHash  string       // argon2id PHC string; never serialised to clients
	QuotaBytes    int64        // 0 = unlimited (bounded by the domain's MaxQuotaBytes)
	QuotaMessages int64        // 0 = unlimited
	Enabled       bool
	Role          Role
	AdminDomains  []string // for RoleDomainAdmin: the domains administered
	Shard         string   // placement: the store shard that holds this account's mail
	// DisabledServices are the services this account may not use, on top of its domain's
	// (see ServiceAllowed); sorted, no duplicates, nil when none.
	DisabledServices []string
	CreatedAt        time.Time
}

// Alias maps Source ("local@domain" or "@domain" for a catch-all) to targets.
type Alias struct {
	Source  string   // key form: folded local part; "@domain" for catch-all
	Domain  string   // the tenant
	Targets []string // addresses; local ones are resolved again (one level), others are remote
}

// Target is one outcome of resolving a recipient.
type Target struct {
	// Exactly one of Account (a local mailbox) or Remote (forward elsewhere) is set.
	Account *Account
	Remote  mail.Address
	Detail  string // "+detail" of the original address, for the delivery mailbox choice
}

// NewAccount carries what CreateAccount needs.
type NewAccount struct {
	Address       mail.Address
	Password      string // clear text; hashed by the driver with HashPassword
	QuotaBytes    int64  // 0 = the domain's MaxQuotaBytes
	QuotaMessages int64
	Role          Role // "" = RoleUser
	AdminDomains  []string
	Shard         string // "" = placement decides (LocalShard in the embedded shape)
	// DisabledServices are the account's own service switches (NormServices rules).
	DisabledServices []string
}

// AccountUpdate changes an account; nil fields are left alone.
type AccountUpdate struct {
	Password      *string
	QuotaBytes    *int64
	QuotaMessages *int64
	Enabled       *bool
	Role          *Role
	AdminDomains  *[]string
	Shard         *string
	// DisabledServices replaces the account's list (NormServices rules); an empty list
	// enables every service the domain allows.
	DisabledServices *[]string
}

// Directory is the interface every driver implements. All methods are safe for concurrent
// use. A method that returns nil has durably committed its change.
type Directory interface {
	// CreateDomain adds a domain. ErrExists if present.
	CreateDomain(ctx context.Context, d Domain) error
	// Domain returns one domain by ASCII name. ErrNotFound if absent. An alias domain
	// (domainlife.go) gives its target's record.
	Domain(ctx context.Context, name string) (Domain, error)
	// Domains lists all domains ordered by name.
	Domains(ctx context.Context) ([]Domain, error)
	// UpdateDomain replaces the limits, Enabled and DisabledServices of an existing domain
	// (ErrInvalid for an unknown service name, ErrDomainDeleted for a deleted domain, and
	// nothing changes).
	UpdateDomain(ctx context.Context, d Domain) error
	// DeleteDomain removes a domain. ErrDomainNotEmpty while accounts or aliases remain,
	// unless force is set, in which case its aliases and accounts go with it (the caller
	// must have removed their mail from the store first).
	DeleteDomain(ctx context.Context, name string, force bool) error

	// CreateAccount adds an account to an existing, enabled domain, respecting MaxUsers
	// (ErrLimit) and MaxQuotaBytes (ErrLimit if QuotaBytes exceeds it). ErrExists if the
	// address is taken by an account or an alias.
	CreateAccount(ctx context.Context, n NewAccount) (Account, error)
	// Account looks an account up by address (case-insensitive). ErrNotFound if absent.
	Account(ctx context.Context, addr mail.Address) (Account, error)
	// AccountByID looks an account up by its ID within its domain. ErrNotFound if the ID
	// is unknown or belongs to another domain (no cross-tenant reads by ID).
	AccountByID(ctx context.Context, domain string, id int64) (Account, error)
	// Accounts lists the accounts of one domain, or of all domains when domain is "".
	Accounts(ctx context.Context, domain string) ([]Account, error)
	// UpdateAccount applies u to the account at addr. ErrInvalid (and nothing changes)
	// for an unknown service name in DisabledServices.
	UpdateAccount(ctx context.Context, addr mail.Address, u AccountUpdate) (Account, error)
	// DeleteAccount removes the account and aliases whose only target it was.
	DeleteAccount(ctx context.Context, addr mail.Address) error
	// Authenticate checks a login (full address) and password. ErrAuthFailed for unknown
	// users and bad passwords alike; ErrDisabled for a disabled account or domain.
	Authenticate(ctx context.Context, login, password string) (Account, error)

	// CreateAlias adds an alias. ErrExists if Source is an account or an alias already.
	CreateAlias(ctx context.Context, a Alias) error
	// Aliases lists one domain's aliases, or all when domain is "".
	Aliases(ctx context.Context, domain string) ([]Alias, error)
	// DeleteAlias removes an alias by its Source.
	DeleteAlias(ctx context.Context, domain, source string) error

	// Resolve maps a recipient to its targets (see the package doc for the order).
	// ErrNotFound when the domain is local but nothing matches; a domain that is not
	// local gives ErrNotFound from IsLocalDomain's point of view, so callers check that first.
	Resolve(ctx context.Context, rcpt mail.Address) ([]Target, error)
	// IsLocalDomain reports whether mail for domain is delivered here (domain exists and
	// is enabled, or is an alias of such a domain), or refused here for good (a deleted
	// domain in its grace period, or an alias of one: Resolve answers ErrDomainDeleted).
	IsLocalDomain(ctx context.Context, domain string) (bool, error)
	// SendAs reports whether the account may use from as its envelope or header sender:
	// its own address, its sub-addresses, or an alias that targets it.
	SendAs(ctx context.Context, acct Account, from mail.Address) (bool, error)

	// Close releases the driver's resources.
	Close() error
}
