package store

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// TestIndexQueueGathers: the deliveries marked while the indexer waits before a round
// are indexed in that round, one pass per mailbox however many deliveries it had.
func TestIndexQueueGathers(t *testing.T) {
	release := make(chan struct{})
	gathering := make(chan struct{}, 1)
	gather := func(ctx context.Context) error {
		select {
		case gathering <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var mu sync.Mutex
	var passes []MailboxID
	indexed := make(chan struct{}, 16)
	index := func(_ context.Context, mbox MailboxID, _ int) (bool, error) {
		mu.Lock()
		passes = append(passes, mbox)
		mu.Unlock()
		indexed <- struct{}{}
		return false, nil
	}
	q := startIndexQueue(slog.New(slog.DiscardHandler), index, nil, gather)
	defer q.Close()
	q.MarkDelivered([]DeliveryResult{{Mailbox: 7}})
	<-gathering // the first delivery woke the indexer; it waits before its round
	for range 5 {
		q.MarkDelivered([]DeliveryResult{{Mailbox: 7}, {Mailbox: 9}, {Mailbox: 11, Err: ErrOverQuota}})
	}
	release <- struct{}{}
	<-indexed
	<-indexed
	release <- struct{}{} // the next round finds nothing and ends; the queue idles
	<-gathering
	mu.Lock()
	got := slices.Clone(passes)
	mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, []MailboxID{7, 9}) {
		t.Fatalf("passes %v, want one each for mailboxes 7 and 9 (11's delivery failed)", got)
	}
}
