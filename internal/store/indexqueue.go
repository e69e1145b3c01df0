package store

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Background text indexing. A driver with a text index (TextSearcher) keeps it current
// without a search paying for it: after a delivery commits, the driver marks the target
// mailboxes pending in its IndexQueue, and the queue's one goroutine indexes pending
// mailboxes, at most IndexBatch bodies per mailbox per pass, so one large mailbox does
// not hold up the others. The pending set is in memory only; what it cannot know (a
// folder filled before a restart, by an older version without the indexer, or while a
// pass failed) the driver's BehindFunc finds in the database: when the queue starts it
// walks the store's mailboxes whose index state is behind, a page of ScanPage at a time
// whenever nothing else is pending, so a first body search over such a folder finds it
// indexed. Searches still index what is missing themselves (SearchText always does), so
// correctness never depends on the queue.

// IndexBatch bounds the bodies one pass of the background indexer reads for a mailbox.
const IndexBatch = 200

// IndexGather is how long the indexer waits before each round, so the deliveries that
// arrive meanwhile share the round: a mailbox's new bodies go in one commit (and SQLite's
// FTS5 flushes its segment once) instead of a commit for every delivery. A search never
// waits for it: searches index what is missing themselves.
const IndexGather = 50 * time.Millisecond

// ScanPage bounds the mailboxes one call of a BehindFunc returns.
const ScanPage = 1000

// IndexFunc indexes up to limit unindexed bodies of a mailbox and reports whether more
// remain.
type IndexFunc func(ctx context.Context, mbox MailboxID, limit int) (more bool, err error)

// BehindFunc returns, in ascending order, up to limit mailboxes with an ID above after
// whose text index state says messages may be unindexed (the driver's marker, read
// without touching bodies). An empty answer ends the scan.
type BehindFunc func(ctx context.Context, after MailboxID, limit int) ([]MailboxID, error)

// IndexQueue is a driver's background text indexer. The zero value and nil are inert.
type IndexQueue struct {
	index  IndexFunc
	behind BehindFunc // nil: no start-up scan
	log    *slog.Logger
	mu     sync.Mutex
	todo   map[MailboxID]bool
	wake   chan struct{}                   // capacity 1: a pending wake-up
	gather func(ctx context.Context) error // waits before a round: IndexGather
	cancel context.CancelFunc
	done   chan struct{}
}

// StartIndexQueue starts the indexer goroutine, which first scans for the mailboxes
// behind says are behind (nil: no scan); Close stops it.
func StartIndexQueue(log *slog.Logger, index IndexFunc, behind BehindFunc) *IndexQueue {
	return startIndexQueue(log, index, behind, sleepGather)
}

func startIndexQueue(log *slog.Logger, index IndexFunc, behind BehindFunc, gather func(context.Context) error) *IndexQueue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &IndexQueue{index: index, behind: behind, log: log, todo: map[MailboxID]bool{}, wake: make(chan struct{}, 1),
		gather: gather, cancel: cancel, done: make(chan struct{})}
	if behind != nil {
		q.wake <- struct{}{} // the scan's first page
	}
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
	scan := scanner{behind: q.behind}
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for q.gather(ctx) == nil {
			q.mu.Lock()
			pass := q.todo
			q.todo = map[MailboxID]bool{}
			q.mu.Unlock()
			if len(pass) == 0 {
				if pass = scan.next(ctx, q.log); len(pass) == 0 {
					break
				}
			}
			for mbox := range pass {
				if !q.pass(ctx, mbox) {
					return
				}
			}
		}
	}
}

// sleepGather waits IndexGather or until ctx ends.
func sleepGather(ctx context.Context) error { return SleepContext(ctx, IndexGather) }

// SleepContext waits d or until ctx ends (its error).
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pass indexes one batch of mbox, marking it pending again when more remain; false when
// the queue is closing.
func (q *IndexQueue) pass(ctx context.Context, mbox MailboxID) bool {
	more, err := q.index(ctx, mbox, IndexBatch)
	switch {
	case ctx.Err() != nil:
		return false
	case err != nil:
		// Dropped, not retried: a search indexes the mailbox itself.
		q.log.Warn("store: background text index", "mailbox", mbox, "err", err)
	case more:
		q.mu.Lock()
		q.todo[mbox] = true
		q.mu.Unlock()
	}
	return true
}

// scanner pages through the mailboxes a BehindFunc reports, once per queue.
type scanner struct {
	behind BehindFunc
	after  MailboxID
	done   bool
}

// next is the scan's next page as a pending set; empty once the scan is over. A failed
// page ends the scan (logged): searches still index what it would have found.
func (s *scanner) next(ctx context.Context, log *slog.Logger) map[MailboxID]bool {
	if s.behind == nil || s.done {
		return nil
	}
	ids, err := s.behind(ctx, s.after, ScanPage)
	if err != nil || len(ids) == 0 {
		if err != nil && ctx.Err() == nil {
			log.Warn("store: background text index: scan for unindexed mailboxes", "err", err)
		}
		s.done = true
		return nil
	}
	s.after = ids[len(ids)-1]
	page := make(map[MailboxID]bool, len(ids))
	for _, id := range ids {
		page[id] = true
	}
	return page
}
