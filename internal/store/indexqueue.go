package store

import (
	"context"
	"log/slog"
	"sync"
)

// Background text indexing. A driver with a text index (TextSearcher) keeps it current
// without a search paying for it: after a delivery commits, the driver marks the target
// mailboxes pending in its IndexQueue, and the queue's one goroutine indexes pending
// mailboxes, at most IndexBatch bodies per mailbox per pass, so one large mailbox does
// not hold up the others. The state is in memory only: after a restart, or when a pass
// fails, the searches index what is missing themselves (SearchText always does), so
// correctness never depends on the queue.

// IndexBatch bounds the bodies one pass of the background indexer reads for a mailbox.
const IndexBatch = 200

// IndexFunc indexes up to limit unindexed bodies of a mailbox and reports whether more
// remain.
type IndexFunc func(ctx context.Context, mbox MailboxID, limit int) (more bool, err error)

// IndexQueue is a driver's background text indexer. The zero value and nil are inert.
type IndexQueue struct {
	index  IndexFunc
	log    *slog.Logger
	mu     sync.Mutex
	todo   map[MailboxID]bool
	wake   chan struct{} // capacity 1: a pending wake-up
	cancel context.CancelFunc
	done   chan struct{}
}

// StartIndexQueue starts the indexer goroutine; Close stops it.
func StartIndexQueue(log *slog.Logger, index IndexFunc) *IndexQueue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &IndexQueue{index: index, log: log, todo: map[MailboxID]bool{}, wake: make(chan struct{}, 1),
		cancel: cancel, done: make(chan struct{})}
	go q.run(ctx)
	return q
}

// MarkDelivered marks the mailboxes of a delivery's successful results pending.
func (q *IndexQueue) MarkDelivered(results []DeliveryResult) {
	if q == nil || q.wake == nil { // wake is set once, before the goroutine starts
		return
	}
	q.mu.Lock()
	for _, r := range results {
		if r.Err == nil && r.Mailbox != 0 {
			q.todo[r.Mailbox] = true
		}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// MarkMailbox marks one mailbox pending (messages imported into it).
func (q *IndexQueue) MarkMailbox(mbox MailboxID) {
	q.MarkDelivered([]DeliveryResult{{Mailbox: mbox}})
}

// Close stops the goroutine, abandoning the pass it is in, and waits for it. Safe to
// call more than once.
func (q *IndexQueue) Close() {
	if q == nil || q.cancel == nil {
		return
	}
	q.cancel()
	<-q.done
}

func (q *IndexQueue) run(ctx context.Context) {
	defer close(q.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for ctx.Err() == nil {
			q.mu.Lock()
			pass := q.todo
			q.todo = map[MailboxID]bool{}
			q.mu.Unlock()
			if len(pass) == 0 {
				break
			}
			for mbox := range pass {
				more, err := q.index(ctx, mbox, IndexBatch)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					// Dropped, not retried: a search indexes the mailbox itself.
					q.log.Warn("store: background text index", "mailbox", mbox, "err", err)
				case more:
					q.mu.Lock()
					q.todo[mbox] = true
					q.mu.Unlock()
				}
			}
		}
	}
}
