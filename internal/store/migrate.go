package store

// Moving an account between shards (package cluster) with its IMAP identity intact.
//
// The source of a migration is read through the ordinary Store interface (Mailboxes,
// Messages with ChangedSince, Vanished, OpenBlob); only the target needs Importer, which
// writes mailboxes and messages with the source's UIDVALIDITY, UIDs, MODSEQs and flags
// instead of allocating new ones, so an IMAP client's cache stays valid (RFC 9051
// 2.3.1.1, RFC 7162 3.1). Fencer blocks the account's writes on the source while the
// last changes are copied and placement is switched.

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ImportMailbox is a mailbox's identity as the target must hold it.
type ImportMailbox struct {
	Name        string
	SpecialUse  string
	Subscribed  bool
	UIDValidity uint32
}

// ImportMessage is one message to write on the target.
type ImportMessage struct {
	UID          UID
	ModSeq       uint64
	Flags        []string
	InternalDate time.Time
	Meta         []byte
	// Body is the content for a message the target does not hold yet; nil updates the
	// flags and modseq of a UID the target holds (ErrNotFound if it does not).
	Body Body
}

// Importer is implemented by drivers that can be the target of a migration. None of its
// methods publishes changes or checks quota: the account is not served from the target
// until placement switches.
type Importer interface {
	// ImportAccount makes the account known to the store without creating default
	// mailboxes. Idempotent.
	ImportAccount(ctx context.Context, acct AccountRef) error
	// ImportMailbox finds the account's mailbox with m.UIDValidity, creating it if
	// missing, and sets its name, special-use and subscription. ErrExists when another
	// mailbox of the account holds the name.
	ImportMailbox(ctx context.Context, acct AccountRef, m ImportMailbox) (MailboxID, error)
	// DropMailbox deletes a mailbox and its messages whatever its name (INBOX too) or
	// children. An unknown ID is not an error.
	DropMailbox(ctx context.Context, acct AccountRef, mbox MailboxID) error
	// ImportMessages writes msgs: a UID the mailbox lacks is inserted (its body stored,
	// the content hash computed from the bytes), a UID it holds gets the flags and modseq
	// given. Counters and usage follow. One commit (PostgreSQL), or one per message with
	// a body sharing group commits (SQLite): each message is applied whole, and a call
	// that failed is simply made again.
	ImportMessages(ctx context.Context, acct AccountRef, mbox MailboxID, msgs []ImportMessage) error
	// ImportExpunged removes uids (those present) and records them as expunged at modseq
	// for QRESYNC (RFC 7162 3.2.10).
	ImportExpunged(ctx context.Context, acct AccountRef, mbox MailboxID, uids []UID, modseq uint64) error
	// SetMailboxSync sets a mailbox's HIGHESTMODSEQ to modseq and raises its UIDNEXT to
	// uidNext (UIDNEXT never falls).
	SetMailboxSync(ctx context.Context, acct AccountRef, mbox MailboxID, uidNext UID, modseq uint64) error
}

// BodyReader is implemented by drivers that read many bodies in one round trip; the
// migration uses it on the source when present (else OpenBlob per message).
type BodyReader interface {
	// ReadBodies calls fn with the whole body of each message of acct among ids, in any
	// order; IDs that are not the account's (or no longer exist) are skipped.
	ReadBodies(ctx context.Context, acct AccountRef, ids []int64, fn func(id int64, body []byte) error) error
}

// Fencer is implemented by drivers that can be the source of a move.
type Fencer interface {
	// Fence waits for the account's writes in progress and blocks new ones (deliveries,
	// flag changes, expunges, mailbox changes wait) until the Fence ends. Reads go on.
	Fence(ctx context.Context, acct AccountRef) (Fence, error)
	// Unseal removes the account's seal (Fence.Seal), if any: for a move abandoned before
	// placement switched (the directory still places the account here). Idempotent.
	Unseal(ctx context.Context, acct AccountRef) error
}

// Fence is a held write fence on one account.
type Fence interface {
	// Seal commits, while the fence holds, a mark that makes every later write of the
	// account on this store fail as if the account were gone (ErrNotFound): a writer that
	// gets the account's or a mailbox's lock after the Seal sees it. A move seals the
	// source just before switching placement, so that writers waiting on the fence never
	// commit on the old shard, even if the fence ends without Drop (the moving process
	// killed between the switch and the Drop). Drop removes the seal with the account;
	// Fencer.Unseal removes it when the move is abandoned before the switch.
	Seal(ctx context.Context) error
	// Drop removes the account in the same commit that ends the fence and publishes
	// AccountMoved: writers that waited find no account (the caller has switched
	// placement first, so they re-resolve and retry). The mail itself may stay until
	// Purge.
	Drop(ctx context.Context) error
	// Purge deletes, after Drop, what Drop left of the account's mail (outside the
	// fence). Idempotent; a later Fence of the account purges too.
	Purge(ctx context.Context) error
	// Release ends the fence and changes nothing.
	Release() error
}

// Digester is implemented by drivers that summarise a mailbox's messages in the
// database: the migration's Verify compares both sides' digests (one query each) and
// lists messages only to name a difference.
type Digester interface {
	// DigestMessages returns how many messages mbox holds and the SHA-256 of their
	// DigestLine, concatenated in UID order.
	DigestMessages(ctx context.Context, acct AccountRef, mbox MailboxID) (count int64, sum [32]byte, err error)
}

// DigestLine is one message's line in a Digester's digest: UID, MODSEQ, the flags
// joined by spaces, size, the body's SHA-256 (BlobID) and the internal date in Unix
// microseconds, separated by single spaces, ending with a newline.
func DigestLine(m Message) string {
	return fmt.Sprintf("%d %d %s %d %s %d\n", m.UID, m.ModSeq, strings.Join(m.Flags, " "), m.Size, m.BlobID,
		m.InternalDate.UnixMicro())
}
