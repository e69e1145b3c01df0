package filter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
	"mailgrid/internal/store"
)

// The persistent state of the built-in mailets. Drivers implement these interfaces
// (internal/filter/sqlite for the embedded shape, internal/filter/postgres for a
// cluster; most of their SQL is internal/filter/sqlstore's); every call names the tenant and the
// account (store.AccountRef), as the store does. A method that returns nil has durably
// committed its change.

// Errors of the state interfaces; drivers wrap or return them.
var (
	ErrNotFound = errors.New("filter: not found")
	ErrExists   = errors.New("filter: already exists")
	ErrActive   = errors.New("filter: script is active") // RFC 5804 2.10 DELETESCRIPT
	ErrInvalid  = errors.New("filter: invalid value")
)

// Settings holds spam levels: an account's own, and its domain's default.
type Settings interface {
	// SpamLevel returns the account's level, else its domain's default, else
	// bayes.DefaultLevel.
	SpamLevel(ctx context.Context, acct store.AccountRef) (bayes.Level, error)
	// SetSpamLevel sets the account's own level; nil clears it (the domain's applies).
	SetSpamLevel(ctx context.Context, acct store.AccountRef, l *bayes.Level) error
	// SetDomainSpamLevel sets the default of a domain; nil clears it.
	SetDomainSpamLevel(ctx context.Context, domain string, l *bayes.Level) error
}

// Tokens gives the Bayes training data of each account.
type Tokens interface {
	// Tokens returns the account's token store (bayes.TokenStore: counts per token and
	// the trained totals, changed atomically per message).
	Tokens(acct store.AccountRef) bayes.TokenStore
}

// ScriptInfo names one Sieve script of an account.
type ScriptInfo struct {
	Name   string
	Active bool
}

// SieveScripts stores each account's Sieve scripts, the shape ManageSieve needs
// (RFC 5804): named scripts, at most one active.
type SieveScripts interface {
	// PutScript creates or replaces a script (RFC 5804 2.6 PUTSCRIPT).
	PutScript(ctx context.Context, acct store.AccountRef, name, source string) error
	// Script returns a script's source (GETSCRIPT); ErrNotFound.
	Script(ctx context.Context, acct store.AccountRef, name string) (string, error)
	// Scripts lists the account's scripts by name (LISTSCRIPTS).
	Scripts(ctx context.Context, acct store.AccountRef) ([]ScriptInfo, error)
	// ActiveScript returns the active script's name and source; ErrNotFound when none.
	ActiveScript(ctx context.Context, acct store.AccountRef) (name, source string, err error)
	// SetActive makes name the active script; "" deactivates all (SETACTIVE).
	SetActive(ctx context.Context, acct store.AccountRef, name string) error
	// DeleteScript removes a script; ErrActive for the active one (DELETESCRIPT).
	DeleteScript(ctx context.Context, acct store.AccountRef, name string) error
	// RenameScript renames a script, keeping it active if it was (RENAMESCRIPT);
	// ErrExists when to is taken.
	RenameScript(ctx context.Context, acct store.AccountRef, from, to string) error
}

// Vacations remembers which auto-replies were sent (RFC 5230 4.1, 4.2: one reply per
// sender and handle within :days).
type Vacations interface {
	// MarkReplied records a reply from acct to sender under handle at now, unless one
	// was recorded within period before now; it reports whether the reply is due. The
	// check and the record are one atomic step.
	MarkReplied(ctx context.Context, acct store.AccountRef, sender, handle string, now time.Time, period time.Duration) (bool, error)
}

// Held is one quarantined copy: the message held for one recipient.
type Held struct {
	ID      int64
	Domain  string       // the tenant: the recipient's domain (the sender's for outbound mail)
	Account int64        // the recipient's account, 0 when the recipient is no account
	Rcpt    mail.Address // the recipient the copy was for
	From    mail.Address // the envelope sender
	Reason  string       // "virus Eicar-Signature", "spam score 15.3/15", ...
	Mailet  string       // the mailet that quarantined it
	Size    int64
	Created time.Time
	BlobID  string // the held body (one body for every recipient of a message)
}

// QuarantineQuery selects held copies: a domain ("" = every domain, for system
// administrators), and within it one account (0 = all).
type QuarantineQuery struct {
	Domain  string
	Account int64
	Limit   int // 0 = no limit
}

// HeldBody is an open held message.
type HeldBody interface {
	body.Body
	Close() error
}

// QuarantineStore holds messages that must not be delivered until an administrator releases
// them. A message held for several recipients is stored once.
type QuarantineStore interface {
	// Hold stores b durably for every entry of held (ID, BlobID, Size and Created are
	// filled in) and returns them.
	Hold(ctx context.Context, held []Held, b body.Body) ([]Held, error)
	// List returns held copies, newest first.
	List(ctx context.Context, q QuarantineQuery) ([]Held, error)
	// Get returns one held copy of the domain; ErrNotFound for an ID of another domain.
	Get(ctx context.Context, domain string, id int64) (Held, error)
	// Open opens the held body of a copy of the domain.
	Open(ctx context.Context, domain string, id int64) (HeldBody, error)
	// Delete removes a copy (and its body when no other copy holds it).
	Delete(ctx context.Context, domain string, id int64) error
	// Expire deletes the copies held since before (the retention period) and returns
	// how many.
	Expire(ctx context.Context, before time.Time) (int, error)
}

// DomainDeleter removes everything the filter state keeps for a domain: its block list,
// rules and switches, its quarantined copies (a body held for other domains too stays),
// and its accounts' spam levels, Bayes data, Sieve scripts, vacation memory and
// documents. The domain purge (admin.Service.PurgeDomain) calls it once the domain's
// accounts are gone; a domain without state is no error.
type DomainDeleter interface {
	DeleteDomain(ctx context.Context, domain string) error
}

// AccountDeleter removes everything the filter state keeps for one account: its spam
// level, Bayes data and training log, Sieve scripts (the webmail's rules, block and
// allow lists and auto-reply among them), vacation memory, documents (preferences,
// signatures) and the copies quarantined for it (a body held for others too stays).
// Account deletion (admin.Service.DeleteAccount) calls it after the directory row is
// gone; account IDs are never reused, so a re-created address starts empty. An account
// without state is no error; a ref without domain or with ID <= 0 is ErrInvalid (ID 0
// is the domain's default spam level, which goes only with the domain).
type AccountDeleter interface {
	DeleteAccount(ctx context.Context, acct store.AccountRef) error
}

// CheckDeleteAccount validates AccountDeleter's argument (for drivers).
func CheckDeleteAccount(acct store.AccountRef) error {
	if acct.Domain == "" || acct.ID <= 0 {
		return fmt.Errorf("%w: delete account %q #%d: want a domain and an account ID", ErrInvalid, acct.Domain, acct.ID)
	}
	return nil
}
