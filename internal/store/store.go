// Package store is mailgrid's mail store interface: per-account mailboxes holding messages
// with IMAP semantics (UID, UIDVALIDITY, MODSEQ, flags), bodies in a content-addressed blob
// store, quota accounting, and typed Change events published after every commit.
//
// Model:
//   - Everything belongs to an account, named by AccountRef{Domain, ID}. Every call takes it;
//     an ID from another account (or another domain) is "not found", never someone else's data.
//   - A Mailbox has a per-account unique Name (hierarchy separator "/"), an optional special-use
//     role (RFC 6154), a UIDVALIDITY fixed at creation, and UIDNEXT that only grows: UIDs are
//     never reused (RFC 9051 2.3.1.1). A renamed mailbox keeps its UIDs; a deleted and
//     re-created one gets a new UIDVALIDITY.
//   - MODSEQ (RFC 7162) is per mailbox and strictly increasing: every change to a message
//     (add, flags, expunge) takes the mailbox's next modseq.
//   - A message body is stored once per content (sha256) and referenced by every message that
//     holds it: one copy for a message delivered to many local recipients or copied between
//     mailboxes. The parsed envelope and body structure (package message) are cached with the
//     message row at delivery.
//   - Quota: usage (bytes, messages) is tracked per account inside the same transaction as
//     the change, so accounting can never drift from content.
//   - Durability: a method that returns nil has durably committed (fsync) its change. Drivers
//     group concurrent commits (group commit) so many deliveries share one fsync.
//   - After commit, the driver publishes Change events to its Publisher (package bus fans them
//     out to IMAP IDLE and webmail sessions, and across nodes in a cluster).
//
// Drivers live in sub-packages (sqlite now, postgres later) and must pass storetest.
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// AccountRef names an account in its tenant. Both fields are required on every call.
type AccountRef struct {
	Domain string // ASCII domain, the tenant
	ID     int64  // directory.Account.ID
}

// MailboxID identifies a mailbox within the store. It is only meaningful together with the
// AccountRef it belongs to.
type MailboxID int64

// UID is an IMAP unique identifier (RFC 9051 2.3.1.1), 1 .. 2^32-1.
type UID uint32

// Special-use roles (RFC 6154) created with every account.
const (
	Inbox   = "INBOX"
	Drafts  = `\Drafts`
	Sent    = `\Sent`
	Trash   = `\Trash`
	Junk    = `\Junk`
	Archive = `\Archive`
)

// DefaultMailboxes are created by EnsureAccount: name and special-use role.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"INBOX", ""},
	{"Drafts", Drafts},
	{"Sent", Sent},
	{"Trash", Trash},
	{"Junk", Junk},
	{"Archive", Archive},
}

// System flags (RFC 9051 2.3.2). Keywords are any other atom.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// Errors.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrOverQuota   = errors.New("over quota")
	ErrInvalid     = errors.New("invalid value")
	ErrModified    = errors.New("modified since")                       // CONDSTORE UNCHANGEDSINCE failed
	ErrProtected   = errors.New("mailbox cannot be deleted or renamed") // INBOX
	ErrHasChildren = errors.New("mailbox has children")
)

// Mailbox is a folder and its counters.
type Mailbox struct {
	ID            MailboxID
	Name          string // full name, "/"-separated, UTF-8; "INBOX" is always INBOX
	SpecialUse    string // "" or one of the special-use constants
	Subscribed    bool
	UIDValidity   uint32
	UIDNext       UID
	HighestModSeq uint64
	Messages      int   // count
	Unseen        int   // messages without \Seen
	Size          int64 // sum of message sizes
}

// Message is one message's metadata in a mailbox.
type Message struct {
	ID           int64 // store-wide row id (stable across flag changes, changes on copy/move)
	MailboxID    MailboxID
	UID          UID
	ModSeq       uint64
	Flags        []string // system flags and keywords, sorted
	InternalDate time.Time
	Size         int64
	BlobID       string // hex sha256 of the body
	Meta         []byte // message.Info as JSON, cached at delivery (envelope, structure)
}

// Body is a rereadable message body: deliveries read it more than once (hash, store, parse).
type Body interface {
	io.ReaderAt
	Size() int64
}

// Blob is an open message body.
type Blob interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Quota bounds one account; zero fields are unlimited. The caller (delivery) takes it from
// the directory; the store checks it atomically with the change.
type Quota struct {
	Bytes    int64
	Messages int64
}

// Usage is what an account holds.
type Usage struct {
	Bytes    int64
	Messages int64
}

// DeliveryTarget is one mailbox copy of a delivered message.
type DeliveryTarget struct {
	Account AccountRef
	Quota   Quota
	// Mailbox is a mailbox name; "" means INBOX. A mailbox that does not exist falls back
	// to INBOX (so a filing rule never loses mail).
	Mailbox string
	Flags   []string
}

// Delivery is one message to store for one or more targets.
type Delivery struct {
	Body         Body
	InternalDate time.Time // zero = now
	Targets      []DeliveryTarget
}

// DeliveryResult reports one target's outcome, in the order of Delivery.Targets.
type DeliveryResult struct {
	Mailbox   MailboxID
	UID       UID
	MessageID int64
	Err       error // nil, ErrOverQuota, ErrNotFound (account unknown to the store)
}

// FlagOp is how StoreFlags applies its flags (RFC 9051 6.4.6).
type FlagOp int

const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// FlagUpdate asks StoreFlags for a change.
type FlagUpdate struct {
	UIDs           []UID
	Op             FlagOp
	Flags          []string
	UnchangedSince uint64 // RFC 7162 3.1.3; 0 = unconditional
}

// FlagResult reports StoreFlags' outcome.
type FlagResult struct {
	Changed  []Message // messages whose flags changed, with their new flags and modseq
	Modified []UID     // messages not changed because their modseq > UnchangedSince
}

// UIDPair maps a source UID to the UID of its copy (RFC 4315 COPYUID).
type UIDPair struct {
	Src, Dst UID
}

// Query selects messages of one mailbox for Messages.
type Query struct {
	MinUID, MaxUID UID    // inclusive range; 0 MaxUID = no upper bound
	ChangedSince   uint64 // only messages with ModSeq > ChangedSince; 0 = all
	Limit          int    // 0 = no limit
	// NoMeta hints that the caller does not need Message.Meta: a driver may then leave it
	// nil and skip reading it (SELECT, flag scans). Drivers are free to ignore the hint.
	NoMeta bool
}

// Store is implemented by every driver. All methods are safe for concurrent use.
type Store interface {
	// EnsureAccount creates the account's default mailboxes if missing. Idempotent. A
	// missing default mailbox is recreated only if no other mailbox holds its special-use
	// role (a user may have renamed "Sent" to "Sent Items").
	EnsureAccount(ctx context.Context, acct AccountRef) error
	// DeleteAccount removes the account's mailboxes and messages and releases blobs.
	// Deleting an account the store does not know is not an error.
	DeleteAccount(ctx context.Context, acct AccountRef) error
	// Usage reports what the account holds. ErrNotFound for an unknown account.
	Usage(ctx context.Context, acct AccountRef) (Usage, error)

	// Mailboxes lists the account's mailboxes ordered by name, with counters. ErrNotFound
	// for an unknown account.
	Mailboxes(ctx context.Context, acct AccountRef) ([]Mailbox, error)
	// Mailbox returns one mailbox by name ("inbox" in any case is INBOX).
	Mailbox(ctx context.Context, acct AccountRef, name string) (Mailbox, error)
	// CreateMailbox creates name (and missing parents). ErrExists, ErrInvalid (bad name).
	CreateMailbox(ctx context.Context, acct AccountRef, name, specialUse string) (Mailbox, error)
	// RenameMailbox renames a mailbox and its children. Renaming INBOX is ErrProtected.
	RenameMailbox(ctx context.Context, acct AccountRef, from, to string) error
	// DeleteMailbox deletes an empty-of-children mailbox and its messages. INBOX: ErrProtected.
	DeleteMailbox(ctx context.Context, acct AccountRef, name string) error
	// SetSubscribed marks a mailbox subscribed or not.
	SetSubscribed(ctx context.Context, acct AccountRef, name string, on bool) error

	// Deliver stores one message for every target in one atomic, durable commit (a target
	// over quota gets an error wrapping ErrOverQuota in its result, an unknown account one
	// wrapping ErrNotFound, and the others are still stored: compare with errors.Is). The
	// returned error is ErrInvalid for a call without body or targets or with a bad flag,
	// else an infrastructure fault; either way nothing was stored.
	Deliver(ctx context.Context, d Delivery) ([]DeliveryResult, error)

	// Messages calls fn for each message matching q in UID order.
	Messages(ctx context.Context, acct AccountRef, mbox MailboxID, q Query, fn func(Message) error) error
	// OpenBlob opens the body of a message of the account.
	OpenBlob(ctx context.Context, acct AccountRef, messageID int64) (Blob, error)
	// StoreFlags changes flags of messages in a mailbox. FlagResult.Changed carries no Meta.
	StoreFlags(ctx context.Context, acct AccountRef, mbox MailboxID, u FlagUpdate) (FlagResult, error)
	// Expunge removes the given UIDs from a mailbox and returns those actually removed.
	Expunge(ctx context.Context, acct AccountRef, mbox MailboxID, uids []UID) ([]UID, error)
	// Copy copies messages to another mailbox of the same account (quota-checked).
	Copy(ctx context.Context, acct AccountRef, src MailboxID, uids []UID, dst MailboxID, quota Quota) ([]UIDPair, error)
	// Move moves messages atomically (RFC 6851): copies then expunges in one commit.
	// Moving into the source mailbox itself is ErrInvalid (copying into it is allowed).
	Move(ctx context.Context, acct AccountRef, src MailboxID, uids []UID, dst MailboxID) ([]UIDPair, error)
	// Vanished returns the UIDs expunged from a mailbox with a modseq greater than since,
	// in UID order (RFC 7162 3.2.10, QRESYNC VANISHED).
	Vanished(ctx context.Context, acct AccountRef, mbox MailboxID, since uint64) ([]UID, error)

	// Close flushes and releases the driver's resources.
	Close() error
}

// Shards gives the store that holds a shard's accounts (directory.Account.Shard names
// it). Front-ends and the delivery pipeline take this, never a driver.
type Shards interface {
	Shard(name string) (Store, error)
}
