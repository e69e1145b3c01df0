package store

import "context"

// ChangeKind is what happened.
type ChangeKind int

const (
	MessageAdded ChangeKind = iota + 1
	FlagsChanged
	MessageExpunged
	MailboxCreated
	MailboxRenamed
	MailboxDeleted
	// AccountResync says changes of the account may have been lost (a cross-node
	// notification connection dropped, a change list too large to send): watchers must
	// recompute their view from the store. The bus turns it into an overflow.
	AccountResync
	// AccountMoved says the account's mail left this shard (a user move committed): its
	// sessions must end (IMAP: BYE) and reconnect, which finds the new shard.
	AccountMoved
	// AccountDeleted says an operator deleted the account (or its domain): its sessions
	// must end at once (IMAP: BYE, POP3: -ERR without UPDATE). Published through
	// Announcer by the admin service after the directory row is gone.
	AccountDeleted
	// AccountDisabled says an operator disabled the account or its domain: its sessions
	// must end at once, as for AccountDeleted; a new login is refused by the directory.
	AccountDisabled
)

// EndsSessions reports whether a change of kind k ends every session of its account.
func (k ChangeKind) EndsSessions() bool {
	return k == AccountMoved || k == AccountDeleted || k == AccountDisabled
}

func (k ChangeKind) String() string {
	switch k {
	case MessageAdded:
		return "message-added"
	case FlagsChanged:
		return "flags-changed"
	case MessageExpunged:
		return "message-expunged"
	case MailboxCreated:
		return "mailbox-created"
	case MailboxRenamed:
		return "mailbox-renamed"
	case MailboxDeleted:
		return "mailbox-deleted"
	case AccountResync:
		return "account-resync"
	case AccountMoved:
		return "account-moved"
	case AccountDeleted:
		return "account-deleted"
	case AccountDisabled:
		return "account-disabled"
	}
	return "unknown"
}

// Change is one committed change, published after the commit that made it.
// Sessions use it to push EXISTS / EXPUNGE / FETCH FLAGS (RFC 9051 7.4).
type Change struct {
	Kind    ChangeKind
	Account AccountRef
	Mailbox MailboxID
	UID     UID      // message changes
	ModSeq  uint64   // the modseq the change took
	Flags   []string // FlagsChanged, MessageAdded: the message's flags after the change
	Name    string   // mailbox changes: the (new) name
	OldName string   // MailboxRenamed
}

// Publisher receives committed changes. Publish must not block for long: the bus buffers.
type Publisher interface {
	Publish(changes ...Change)
}

// Announcer is an optional add-on of a Store: Announce publishes account events that
// no mail change carries (AccountDeleted, AccountDisabled) to every process and node
// whose sessions watch the store's accounts, as the store's own changes travel (the
// PostgreSQL driver: a notification on its shard, so every node's bus hears it). It
// returns once the announcement is sent; a nil error does not mean every session
// ended, only that the announcement left.
type Announcer interface {
	Announce(ctx context.Context, changes ...Change) error
}
