// Package cluster moves users between store shards while they keep working: `mailgrid
// user move`, `user copy` and `shard drain` run an Engine.
//
// Model. The directory's placement row (directory.Account.Shard) is the only truth
// about where an account's mail lives; a move ends by switching it. In between:
//
//  1. Copy. The target (a store.Importer) gets the account's mailboxes with their
//     UIDVALIDITY, name, special-use and subscription, and every message with its UID,
//     MODSEQ, flags, internal date and body, read from the source through the ordinary
//     store.Store interface. Mailboxes are matched by UIDVALIDITY (unique per shard, and
//     kept by the copy), so renames, deletions and re-creations on the source are
//     followed. The target mailbox's HIGHESTMODSEQ is the copy's watermark: a round
//     reads the source's HIGHESTMODSEQ H first, then every message changed since the
//     watermark (RFC 7162 CONDSTORE, Query.ChangedSince) and every UID expunged since it
//     (QRESYNC's Vanished), applies them, and sets the watermark to H. Everything at or
//     below H was committed before H was read (a mailbox's modseq is taken under its row
//     lock), so nothing is missed; what is read twice is applied idempotently.
//     A target that offers it imports through a handle whose commits do not wait for
//     its disk; the copy is made durable before the switch (asyncimport.go).
//  2. Catch-up. Rounds repeat while the user works on the source until a round finds
//     few changes (Options.FenceBelow) or Options.MaxRounds is reached.
//  3. Fence. The source (a store.Fencer) blocks the account's writes: deliveries and
//     IMAP changes in progress finish, new ones wait. A last round copies what is left;
//     then Verify compares both sides mailbox by mailbox (identity, counters) and
//     message by message (UID, MODSEQ, flags, size, date and the body's SHA-256, which the
//     target computed from the bytes it stored), and usage.
//  4. Switch. The source is sealed first (store.Fence.Seal: a committed mark that makes
//     every write of the account there fail as if it were gone, seen by writers that get
//     the account's locks after it, the fence's waiters included), so that no writer can
//     commit on the source once placement may have switched, even if this process dies
//     before the Drop below and its fence's transaction rolls back. A run that stops
//     before the switch unseals (or the next run does: the directory says the account is
//     still on the source). Then the directory sets the account's shard from source to
//     target (compare and set, with the journal's "switched" phase in the same
//     transaction). For a move the
//     fence then ends by deleting the source copy in the same commit that publishes
//     store.AccountMoved: writers that waited find no account and answer a temporary
//     error (the delivery pipeline sees the account now lives elsewhere: 451, and the
//     client's retry reaches the target); IMAP sessions of the account get BYE and
//     reconnect to the target. A copy (backup) keeps placement and the source.
//
// Every step is journaled (directory.MigrationJournal: state, phase, rounds, counters,
// fence duration, last error). Only one process migrates an account at a time (the
// journal's lock). A run that stops (error, kill -9) leaves the journal unfinished; the
// same command run again resumes it: before the switch the copy simply continues from the
// target's watermarks (the target was never served), after it the cleanup finishes the
// source's deletion, first re-delivering to the target, with new UIDs, any message that
// reached the source after the switch (the seal makes that impossible for this store
// driver; the check stays for drivers and shards sealed by nothing). Cancel abandons an unfinished copy phase and removes the
// target's partial copy.
//
// The package is core: it knows the directory, store and journal interfaces only.
package cluster

import (
	"log/slog"
	"time"
)

// Options tune an Engine; zero fields take the defaults.
type Options struct {
	BatchMessages int           // messages per import commit (500)
	BatchBytes    int64         // body bytes per import commit (8 MiB)
	Readers       int           // source bodies read at once (4)
	Importers     int           // batches imported at once, each in its own transaction (2)
	MaxRounds     int           // catch-up rounds before fencing anyway (8)
	FenceBelow    int           // a round with at most this many changes leads to the fence (100)
	FenceTimeout  time.Duration // bound on the fenced part: final round, verify, switch, drop (45s)
	SyncImports   bool          // every import commit waits for the target's disk (asyncimport.go)
}

func (o Options) withDefaults() Options {
	if o.BatchMessages <= 0 {
		o.BatchMessages = 500
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.Importers <= 0 {
		o.Importers = 2
	}
	if o.MaxRounds <= 0 {
		o.MaxRounds = 8
	}
	if o.FenceBelow <= 0 {
		o.FenceBelow = 100
	}
	if o.FenceTimeout <= 0 {
		o.FenceTimeout = 45 * time.Second
	}
	return o
}

func discardLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
