// Package fetch is the webmail's external POP3 accounts: a user names a remote POP3
// mailbox (host, port, TLS mode, user, password), a local folder and whether to keep the
// mail on the remote; every node's Fetcher collects new mail from it on the account's
// interval and stores it in the folder.
//
// Model:
//   - An Account belongs to one local account (Owner, a store.AccountRef); every Store
//     call names the owner beside the ID, so another owner's IDs are ErrNotFound.
//   - The password is kept sealed (AES-256-GCM, Seal/Open) under the installation's key,
//     which the Store keeps apart from the accounts (Store.Key); it never appears in a
//     page, a log line or an error message.
//   - Exactly-once per message is by UIDL (RFC 1939 7): the Store remembers, per remote
//     account, the unique-ids already stored locally. A message is stored first, then its
//     UIDL is remembered, then (delete mode) it is marked DELE on the remote; the remote
//     expunges it only at QUIT (RFC 1939 6, UPDATE state). A crash between the local commit
//     and the remembering can store one message twice; nothing is ever deleted remotely
//     before the local commit. Remembered UIDLs the remote no longer lists are forgotten.
//   - One fetch per remote account at a time across all nodes: a fetch first claims the
//     account's lease (Store.Claim: a row update, so PostgreSQL serialises it between
//     nodes, and the single SQLite writer in the embedded shape); a node that loses the
//     race skips the account. A lease outlives a crashed node by at most LeaseTime.
//   - Fetched mail is stored directly in the chosen folder through the store, with the
//     owner's quota (delivery.Quota): it does not run the filter pipeline, since the user
//     chose the folder and the remote already filtered it. A full mailbox stops the run
//     with an error and leaves the rest on the remote for the next one.
//   - An account's external accounts go with it: a run whose owner the directory no
//     longer has (ErrOwnerGone, checked before connecting) deletes all of the owner's
//     external accounts and their UIDLs instead (Fetcher.RemoveOwner); account deletion
//     and the domain purge remove them at once (Store.DeleteOwner, Store.DeleteDomain).
//   - Users name the remote host, so connections pass an address guard (guard.go): no
//     loopback, private, link-local or unspecified address unless Options.AllowPrivate.
//   - The result of each run (time, count, error) is recorded on the account and shown on
//     the Settings page; a failed run is retried on the next interval.
//
// Drivers: fetch/sqlite (embedded, DATA/fetch) and fetch/postgres (the cluster's directory
// database); both pass the conformance suite in fetch/fetchtest, and both run the
// statements of fetch/sqlstore (written once over internal/sqlkit), keeping the schema,
// Forget and their locking to themselves.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"mailgrid/internal/store"
)

// Errors of a Store.
var (
	ErrNotFound = errors.New("fetch: not found")
	ErrInvalid  = errors.New("fetch: invalid account")
)

// InvalidError is a refused account setting; errors.Is(err, ErrInvalid). Its reason is a
// format and its arguments, so a front-end can show it in the user's language (the
// webmail's catalogue is keyed by the English format).
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

// TLS is how the client protects the connection.
type TLS int

const (
	TLSImplicit TLS = iota // TLS from the first byte (POP3S, RFC 8314 3.3), port 995
	TLSStartTLS            // plain connection upgraded with STLS (RFC 2595 4), port 110
	TLSNone                // no TLS: only allowed to a loopback address
)

var tlsNames = []string{"implicit", "starttls", "none"}

func (m TLS) String() string {
	if int(m) < len(tlsNames) && m >= 0 {
		return tlsNames[m]
	}
	return fmt.Sprintf("tls(%d)", int(m))
}

// ParseTLS reads a TLS mode name.
func ParseTLS(s string) (TLS, bool) {
	for i, n := range tlsNames {
		if n == s {
			return TLS(i), true
		}
	}
	return 0, false
}

// Limits of an account, enforced by Validate.
const (
	MinInterval = time.Minute
	MaxInterval = 24 * time.Hour
	MaxAccounts = 20 // per owner
	LeaseTime   = 10 * time.Minute
)

// Account is one remote POP3 mailbox of a local account.
type Account struct {
	ID       int64 // assigned by the store
	Owner    store.AccountRef
	Host     string
	Port     int
	TLS      TLS
	User     string
	Secret   []byte // the password sealed with Seal; never shown
	Folder   string // local mailbox name; "" is INBOX
	Keep     bool   // keep fetched mail on the remote (else DELE after the local commit)
	Interval time.Duration

	// State, written by Store.Finish.
	LastRun   time.Time // zero: never ran
	LastError string    // "" when the last run succeeded
	LastCount int       // messages stored by the last run
	NextRun   time.Time // when the account is due
}

// Addr is host:port.
func (a Account) Addr() string { return net.JoinHostPort(a.Host, fmt.Sprint(a.Port)) }

// Result is what one run did.
type Result struct {
	Fetched int
	Deleted int
	Skipped int // messages larger than Options.MaxMessage, left on the remote
	Err     error
}

// Store keeps the accounts, their remembered UIDLs and leases. Implementations are safe
// for concurrent use (by several nodes for the cluster driver); a method that returns nil
// has made its change durable.
type Store interface {
	// List returns the owner's accounts ordered by ID.
	List(ctx context.Context, owner store.AccountRef) ([]Account, error)
	// Get returns one account of the owner.
	Get(ctx context.Context, owner store.AccountRef, id int64) (Account, error)
	// Add validates a and adds it for a.Owner, due at once; at most MaxAccounts per owner.
	Add(ctx context.Context, a Account) (int64, error)
	// Update replaces the settings of a.ID (not its state); a nil Secret keeps the stored
	// one. Changing Host or User forgets the remembered UIDLs.
	Update(ctx context.Context, a Account) error
	// Delete removes an account and its remembered UIDLs.
	Delete(ctx context.Context, owner store.AccountRef, id int64) error
	// DeleteOwner removes every account of owner with its remembered UIDLs, leased ones
	// included, and returns how many (account deletion). A run holding a lease finds its
	// account gone: Finish records nothing and the account is never due again.
	DeleteOwner(ctx context.Context, owner store.AccountRef) (int, error)
	// DeleteDomain removes every account of every owner of domain, as DeleteOwner (domain
	// purge); "" is ErrInvalid.
	DeleteDomain(ctx context.Context, domain string) (int, error)

	// Due returns up to limit accounts (of every owner) whose NextRun is not after now and
	// whose lease is free, earliest first.
	Due(ctx context.Context, now time.Time, limit int) ([]Account, error)
	// Claim takes the account's lease for holder until until when it is free (expired) at
	// now; false when another holder has it.
	Claim(ctx context.Context, id int64, holder string, now, until time.Time) (bool, error)
	// Finish records a run of holder's lease (LastRun = now, LastError, LastCount, NextRun
	// = now + Interval) and frees the lease.
	Finish(ctx context.Context, id int64, holder string, now time.Time, count int, errMsg string) error

	// Seen returns the UIDLs remembered for the account.
	Seen(ctx context.Context, id int64) (map[string]bool, error)
	// Remember adds a UIDL to the account's set.
	Remember(ctx context.Context, id int64, uidl string) error
	// Forget drops the account's UIDLs that are not in keep.
	Forget(ctx context.Context, id int64, keep map[string]bool) error

	// Key returns the installation's 32-byte sealing key, creating it on first use; every
	// node sharing the store gets the same key.
	Key(ctx context.Context) ([]byte, error)
	Close() error
}

// Normalize trims an account's text fields and fills default port and interval.
func Normalize(a Account) Account {
	a.Host = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(a.Host), "."))
	a.User = strings.TrimSpace(a.User)
	a.Folder = strings.Trim(strings.TrimSpace(a.Folder), "/")
	if a.Port == 0 {
		a.Port = 995
		if a.TLS != TLSImplicit {
			a.Port = 110
		}
	}
	if a.Interval == 0 {
		a.Interval = 15 * time.Minute
	}
	return a
}

// Validate checks a normalized account: a host name or IP address, a port, a known TLS
// mode (none only to a loopback address), a user without control characters or spaces
// (it goes on a USER line, RFC 1939 7), a sealed password, an interval within bounds.
func Validate(a Account) error {
	bad := Invalid
	if a.Owner.Domain == "" || a.Owner.ID == 0 {
		return bad("no owner")
	}
	if !validHost(a.Host) {
		return bad("not a host name: %q", a.Host)
	}
	if a.Port < 1 || a.Port > 65535 {
		return bad("port %d out of range", a.Port)
	}
	if a.TLS < TLSImplicit || a.TLS > TLSNone {
		return bad("unknown TLS mode")
	}
	if a.TLS == TLSNone && !Loopback(a.Host) {
		return bad("without TLS only a loopback address (127.0.0.1, ::1, localhost) may be used")
	}
	if a.User == "" || len(a.User) > 255 || !utf8.ValidString(a.User) || strings.ContainsFunc(a.User, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bad("the user name is empty, too long or holds spaces or control characters")
	}
	if len(a.Secret) == 0 || len(a.Secret) > 1024 {
		return bad("a password is required")
	}
	if len(a.Folder) > 200 || !utf8.ValidString(a.Folder) || strings.ContainsFunc(a.Folder, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return bad("not a folder name: %q", a.Folder)
	}
	if a.Interval < MinInterval || a.Interval > MaxInterval {
		return bad("the interval must be between %v and %v", MinInterval, MaxInterval)
	}
	return nil
}

// Prepare normalizes and validates a, the drivers' first step of a write.
func Prepare(a Account) (Account, error) {
	a = Normalize(a)
	return a, Validate(a)
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// Loopback reports whether host names this machine: localhost or a loopback IP.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckDelete validates DeleteOwner's owner (for drivers); whole: DeleteDomain's domain,
// no account.
func CheckDelete(owner store.AccountRef, whole bool) error {
	if owner.Domain == "" || (!whole && owner.ID <= 0) {
		return fmt.Errorf("%w: delete: want a domain and an account (%q #%d)", ErrInvalid, owner.Domain, owner.ID)
	}
	return nil
}
