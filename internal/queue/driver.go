package queue

import (
	"context"
	"errors"
	"time"

	"mailgrid/internal/store"
)

// The driver contract.
//
// Lifecycle of an item (one queued message):
//
//	Enqueue ──> due ──Lease──> leased ──Report*──> Notified* ──Release──> due again (next attempt)
//	                                                                 └──> removed (nothing left to do)
//
//   - Enqueue stores the body and one row per recipient (state queued); the item is due at once.
//   - Lease claims due items for one node until a lease expiry. Claiming is atomic: two
//     concurrent Lease calls (same process or not, same node or not) never return the same
//     item. Each Lease counts one attempt of the item. A node that dies keeps its leases
//     only until they expire; then any node's Lease takes the item again.
//   - Report records what happened to some recipients, right after the remote transaction
//     that decided it, so a crash re-sends at most the recipients still in flight. A
//     recipient leaves the queued state once and for all: a later outcome for a recipient
//     that is already delivered, failed or expired is ignored.
//   - Notified records that the DSNs an Outcome asked for (DSN: true) have been submitted,
//     and that the one delay warning has gone out.
//   - Release ends the lease: the item is removed (body included) when no recipient is
//     queued and no DSN is pending; otherwise it becomes due again at next.
//
// Durability: every method that changes state has durably committed (fsync) when it
// returns nil. Report, Notified and Release may be called after the lease expired; Report
// and Notified still apply (they record facts), Release then fails with ErrLeaseLost and
// changes nothing, because another node may own the item now.

// Errors returned by drivers (wrapped or as is; test with errors.Is).
var (
	ErrNotFound  = errors.New("queue: no such item")
	ErrLeaseLost = errors.New("queue: lease not held")
)

// State is a recipient's delivery state.
type State string

const (
	StateQueued    State = "queued"    // waiting for (another) attempt
	StateDelivered State = "delivered" // the next hop accepted it (2xx after DATA)
	StateFailed    State = "failed"    // permanent failure (5xx or equivalent)
	StateExpired   State = "expired"   // temporary failures until the queue lifetime ran out
)

// Final reports whether no more delivery attempts follow s.
func (s State) Final() bool { return s != StateQueued }

// Reply is an SMTP reply, or the equivalent of one for failures without a reply
// (DNS, network): then Code is 0 and Enhanced still classifies it (RFC 3463).
type Reply struct {
	Code     int    // RFC 5321 4.2 reply code, 0 if no reply was received
	Enhanced string // RFC 3463 status "x.y.z", "" if unknown
	Text     string // reply text without code and enhanced code, lines joined by "\n"
}

// IsZero reports whether r holds nothing.
func (r Reply) IsZero() bool { return r.Code == 0 && r.Enhanced == "" && r.Text == "" }

// RecipientStatus is one recipient of an item with its delivery state.
type RecipientStatus struct {
	Recipient
	State       State
	Attempts    int       // remote transactions that reported on this recipient
	LastAttempt time.Time // zero before the first report
	LastReply   Reply     // the reply of the last report
	RemoteMTA   string    // host that gave LastReply ("" if none answered)
	DSNPending  bool      // a DSN for the current state is owed and not yet submitted
}

// Item is one queued message with its recipients and scheduling state.
type Item struct {
	ID          string
	Envelope    Envelope
	Recipients  []RecipientStatus // in enqueue order
	Size        int64             // body size in octets
	Queued      time.Time         // first enqueued (the queue lifetime counts from here)
	NextAttempt time.Time         // zero = due now
	Attempts    int               // leases taken (delivery rounds started)
	LastAttempt time.Time         // time of the last lease (zero before the first)
	DelayWarned bool              // the delay warning DSN has been submitted
	LeaseOwner  string            // node holding the lease, "" if none
	LeaseUntil  time.Time         // lease expiry (zero if not leased)
}

// Pending returns the recipients still in StateQueued.
func (it *Item) Pending() []RecipientStatus {
	var out []RecipientStatus
	for _, r := range it.Recipients {
		if r.State == StateQueued {
			out = append(out, r)
		}
	}
	return out
}

// Outcome is what Report records for one recipient.
type Outcome struct {
	Addr      string // Recipient.Addr as enqueued
	State     State  // StateQueued means "deferred, try again"
	Reply     Reply
	RemoteMTA string
	At        time.Time // end of the transaction; becomes LastAttempt
	DSN       bool      // a DSN is owed for this outcome: pending until Notified
}

// Filter selects items for List. Zero fields match everything.
type Filter struct {
	RcptDomain string // items with at least one recipient in this ASCII domain
	From       string // items with this envelope sender (exact; "<>" selects the null sender)
	Offset     int
	Limit      int // 0 = no limit
}

// Queue is the interface every outbound queue driver implements; it must pass the
// conformance suite in package queuetest. All methods are safe for concurrent use, also
// from several processes or nodes sharing the same storage.
type Queue interface {
	Enqueuer

	// Lease atomically claims up to max items due at now (NextAttempt <= now) whose lease
	// is free or expired, for node until now+leaseFor, and returns them with all their
	// recipients (final ones too, for DSN bookkeeping). Oldest due first.
	Lease(ctx context.Context, node string, now time.Time, max int, leaseFor time.Duration) ([]Item, error)
	// Recover drops every lease held by node. A scheduler calls it once at start, when no
	// delivery of node can be in flight, so a restarted node resumes its items at once
	// instead of waiting for their leases to expire. Node names must be unique per running
	// scheduler.
	Recover(ctx context.Context, node string) error
	// OpenBody opens the message body of an item for reading. ErrNotFound if none.
	OpenBody(ctx context.Context, id string) (store.Blob, error)
	// Report records recipient outcomes (see the lifecycle above). Durable on return.
	// An unknown item is ErrNotFound; an Addr not among the item's recipients is an error.
	Report(ctx context.Context, id string, outcomes []Outcome) error
	// Notified clears the pending DSN of rcpts and, if delayWarned, records that the delay
	// warning was submitted. Durable on return.
	Notified(ctx context.Context, id string, rcpts []string, delayWarned bool) error
	// Release ends node's lease: removes the item when nothing is left to do, else makes it
	// due at next (or at once if Retry was called meanwhile). ErrLeaseLost if node does
	// not hold the lease (it expired and another node may own the item).
	Release(ctx context.Context, id, node string, next time.Time) error

	// List returns items matching f in enqueue order.
	List(ctx context.Context, f Filter) ([]Item, error)
	// Get returns one item. ErrNotFound if absent.
	Get(ctx context.Context, id string) (Item, error)
	// Retry makes an item due now (its queued recipients and pending DSNs). If the item is
	// leased, it becomes due again as soon as the lease is released.
	Retry(ctx context.Context, id string) error
	// Drop removes an item and its body without any DSN (an operator's decision).
	Drop(ctx context.Context, id string) error

	// Close releases the driver's resources.
	Close() error
}
