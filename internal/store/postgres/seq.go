package postgres

import (
	"sync"

	"mailgrid/internal/store"
)

// sequencer publishes the changes of committed transactions in ticket order. Transactions
// run in parallel on many connections, and the goroutine whose COMMIT returns first is
// not necessarily the one that committed first; a transaction takes its ticket just
// before COMMIT while it still holds its row locks, so of two transactions touching the
// same mailbox the one that committed first has the lower ticket, and subscribers see
// that mailbox's changes in commit (and modseq) order.
//
// done never blocks on another transaction: the first caller that finds the next ticket
// ready publishes every consecutive ready ticket, the others only deposit theirs. So a
// change may be published by another goroutine shortly after its own call returned
// (storetest allows this).
type sequencer struct {
	pub store.Publisher

	mu         sync.Mutex
	next, head uint64 // next ticket to hand out; lowest ticket not yet published
	ready      map[uint64][]store.Change
	busy       bool // a goroutine is publishing
}

func newSequencer(pub store.Publisher) *sequencer {
	return &sequencer{pub: pub, ready: map[uint64][]store.Change{}}
}

// take hands out the next ticket. Every ticket must be given back with done.
func (q *sequencer) take() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.next
	q.next++
	return t
}

// done records the changes of ticket t (nil when its transaction failed) and publishes
// what is now in order.
func (q *sequencer) done(t uint64, changes []store.Change) {
	q.mu.Lock()
	q.ready[t] = changes
	if q.busy {
		q.mu.Unlock()
		return
	}
	q.busy = true
	for {
		var out []store.Change
		for {
			c, ok := q.ready[q.head]
			if !ok {
				break
			}
			delete(q.ready, q.head)
			q.head++
			out = append(out, c...)
		}
		if len(out) == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		if q.pub != nil {
			q.pub.Publish(out...) // outside the lock: the Publisher may read the store
		}
		q.mu.Lock()
	}
}
