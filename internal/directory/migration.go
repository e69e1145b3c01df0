package directory

// The migration journal: the directory's record of user moves and copies between store
// shards (package cluster runs them). The directory is the only truth about placement, so
// the journal lives beside it and the switch of an account's shard is a compare-and-set
// in the same transaction as the journal's "switched" phase: after a crash, the journal
// says exactly whether placement moved.
//
// Only the cluster shape (PostgreSQL directory, registered shards) keeps a journal; the
// embedded shape has one shard and nothing to move to.

import (
	"context"
	"errors"
	"time"
)

// ErrBusy is returned when another process is migrating the account right now.
var ErrBusy = errors.New("a migration of this account is running")

// MigrationKind says what happens to the source copy.
type MigrationKind string

const (
	// MigrationMove switches placement to the target and deletes the source copy.
	MigrationMove MigrationKind = "move"
	// MigrationCopy keeps placement and the source; the target gets a verified copy.
	MigrationCopy MigrationKind = "copy"
)

// MigrationState is where a migration stands.
type MigrationState string

const (
	MigrationRunning   MigrationState = "running"   // started and not finished: resumable
	MigrationDone      MigrationState = "done"      // finished and verified
	MigrationFailed    MigrationState = "failed"    // stopped by an error: re-run resumes
	MigrationCancelled MigrationState = "cancelled" // abandoned; the target copy was removed
)

// Unfinished reports whether a migration of this state may be resumed.
func (s MigrationState) Unfinished() bool { return s == MigrationRunning || s == MigrationFailed }

// Migration phases, in order. PhaseSwitched is written in the transaction that changes
// the account's shard, so a journal at PhaseSwitched or later means placement moved.
const (
	PhaseCopy     = "copy"     // bulk copy and catch-up rounds, user working on the source
	PhaseFence    = "fence"    // writes to the source blocked; final catch-up and verification
	PhaseSwitched = "switched" // placement points at the target
	PhaseCleanup  = "cleanup"  // removing what is left on the source
	PhaseDone     = "done"
)

// Migration is one journal row.
type Migration struct {
	ID        int64
	AccountID int64
	Domain    string
	Address   string // the account's address when the migration started (for display)
	Kind      MigrationKind
	Source    string // shard
	Target    string // shard
	State     MigrationState
	Phase     string
	Owner     string // who ran it last (host:pid)
	Rounds    int    // copy and catch-up rounds done
	Messages  int64  // messages copied (new on the target), all rounds
	Bytes     int64  // body bytes copied
	FenceMS   int64  // how long writes were blocked, milliseconds (0 before the fence)
	Error     string // the last error, "" when none
	Started   time.Time
	Updated   time.Time
}

// MigrationJournal is implemented by directories that can record migrations (the
// PostgreSQL driver).
type MigrationJournal interface {
	// LockMigration takes the exclusive right to migrate the account; it is held until
	// release is called or the process dies (then it frees itself at once). ErrBusy if
	// another process holds it.
	LockMigration(ctx context.Context, accountID int64) (release func(), err error)
	// StartMigration returns the account's unfinished migration (resumed = true), or
	// records m as a new running one. An unfinished one with another kind or target is
	// ErrExists: finish or cancel it first.
	StartMigration(ctx context.Context, m Migration) (_ Migration, resumed bool, err error)
	// SaveMigration stores m's state, phase, counters and error.
	SaveMigration(ctx context.Context, m Migration) error
	// SwitchShard sets the account's shard from m.Source to m.Target and m's phase to
	// PhaseSwitched in one transaction. ErrInvalid (and nothing changes) if the account
	// is no longer on m.Source.
	SwitchShard(ctx context.Context, m Migration) error
	// Migrations lists the journal, newest first: every row, or only unfinished ones.
	Migrations(ctx context.Context, unfinishedOnly bool) ([]Migration, error)
}
