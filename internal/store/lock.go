package store

import (
	"context"
	"errors"
)

// ErrLocked is TryLock's answer when another holder, on this node or another, has the
// lock.
var ErrLocked = errors.New("locked by another session")

// MaildropLocker is implemented by drivers whose storage is shared between nodes (the
// PostgreSQL shard) to give a cluster-wide exclusive lock per account and name: POP3's
// one session per maildrop (RFC 1939 8) is TryLock(ctx, acct, "pop3"). A front-end
// type-asserts a Store to it and falls back to an in-process lock when the driver does
// not implement it (a single-node store has no other node to exclude).
//
// The lock is advisory: it excludes other TryLock callers only, never a Store call.
// It lasts until release is called or the driver loses the means to hold it (its
// database connection dies, Close): it is then free for others, so a holder must not
// treat it as a guarantee past a store fault.
type MaildropLocker interface {
	// TryLock takes the lock named name of acct without waiting. It returns ErrLocked
	// when it is held (by any store over the same storage, including this one),
	// ErrInvalid for a bad account or an empty name, another error for an
	// infrastructure fault. release frees the lock; it is safe to call more than once
	// and after Close.
	TryLock(ctx context.Context, acct AccountRef, name string) (release func(), err error)
}
