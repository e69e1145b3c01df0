package bus

import (
	"runtime"
	"slices"
	"sync"
	"testing"

	"mailgrid/internal/store"
)

var (
	alice = store.AccountRef{Domain: "example.test", ID: 1}
	bob   = store.AccountRef{Domain: "example.test", ID: 2}
	other = store.AccountRef{Domain: "other.test", ID: 1} // same ID, other tenant
)

func TestDeliversOnlyToTheAccount(t *testing.T) {
	b := New()
	sa := b.Subscribe(alice, 0)
	so := b.Subscribe(other, 0)
	defer sa.Close()
	defer so.Close()
	b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: 1},
		store.Change{Kind: store.MessageAdded, Account: bob, UID: 7},
		store.Change{Kind: store.FlagsChanged, Account: alice, UID: 1})
	if c := <-sa.C; c.Kind != store.MessageAdded || c.UID != 1 {
		t.Fatalf("first change %+v", c)
	}
	if c := <-sa.C; c.Kind != store.FlagsChanged {
		t.Fatalf("second change %+v", c)
	}
	select {
	case c := <-sa.C:
		t.Fatalf("alice got another account's change %+v", c)
	case c := <-so.C:
		t.Fatalf("same ID in another tenant got %+v", c)
	default:
	}
}

func TestOverflowMarksAndNeverBlocks(t *testing.T) {
	b := New()
	s := b.Subscribe(alice, 16)
	defer s.Close()
	for i := 0; i < 100; i++ { // must not block although nobody reads
		b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: store.UID(i + 1)})
	}
	if !s.Overflowed() {
		t.Fatal("overflow not reported")
	}
	n := 0
	for len(s.C) > 0 {
		c := <-s.C
		n++
		if c.UID != store.UID(n) {
			t.Fatalf("order broken: got UID %d at %d", c.UID, n)
		}
	}
	if n != 16 {
		t.Fatalf("buffered %d, want 16", n)
	}
}

func TestCloseIdempotentAndUnsubscribes(t *testing.T) {
	b := New()
	s := b.Subscribe(alice, 0)
	s.Close()
	s.Close()
	if _, ok := <-s.C; ok {
		t.Fatal("channel not closed")
	}
	b.Publish(store.Change{Account: alice}) // must not panic on a closed subscription
	if len(b.subs) != 0 {
		t.Fatalf("subscription map not cleaned: %d", len(b.subs))
	}
}

func TestConcurrentPublishSubscribe(t *testing.T) {
	b := New()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				b.Publish(store.Change{Kind: store.MessageAdded, Account: alice})
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				s := b.Subscribe(alice, 0)
				s.Close()
			}
		}()
	}
	wg.Wait()
}

func TestResyncMarksAndWakes(t *testing.T) {
	b := New()
	sa, sb := b.Subscribe(alice, 0), b.Subscribe(bob, 0)
	defer sa.Close()
	defer sb.Close()
	b.Publish(store.Change{Kind: store.AccountResync, Account: alice})
	if !sa.Overflowed() || sb.Overflowed() {
		t.Fatalf("account resync: alice %v bob %v", sa.Overflowed(), sb.Overflowed())
	}
	if c := <-sa.C; c.Kind != store.AccountResync {
		t.Fatalf("no wake-up change: %+v", c)
	}
	b.ResyncAll()
	if !sb.Overflowed() {
		t.Fatal("ResyncAll did not mark bob")
	}
	if c := <-sb.C; c.Kind != store.AccountResync || c.Account != bob {
		t.Fatalf("no wake-up change for bob: %+v", c)
	}
}

// TestResyncAllTellsObservers: an observer (the IMAP mailbox cache) learns that changes of
// every account may have been lost, as a zero-Account AccountResync.
func TestResyncAllTellsObservers(t *testing.T) {
	b := New()
	var got []store.Change
	stop := b.Observe(func(cs []store.Change) { got = append(got, cs...) })
	defer stop()
	b.ResyncAll()
	if len(got) != 1 || got[0].Kind != store.AccountResync || got[0].Account != (store.AccountRef{}) {
		t.Fatalf("observer got %+v", got)
	}
}

// TestGrowingQueuesInOrder: a SubscribeGrowing subscription takes a burst beyond its
// channel in order, up to its limit, then overflows; the queue is released when read.
func TestGrowingQueuesInOrder(t *testing.T) {
	b := New()
	s := b.SubscribeGrowing(alice, 100)
	defer s.Close()
	if cap(s.C) != growingChan {
		t.Fatalf("channel of %d up front, want %d", cap(s.C), growingChan)
	}
	for i := range 100 {
		b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: store.UID(i + 1)})
	}
	if s.Overflowed() {
		t.Fatal("overflowed within its limit")
	}
	first := <-s.C // what wakes the reader
	n := 1
	if first.UID != 1 {
		t.Fatalf("first change UID %d", first.UID)
	}
	for c, ok := s.TryNext(); ok; c, ok = s.TryNext() {
		n++
		if c.UID != store.UID(n) {
			t.Fatalf("order broken: got UID %d at %d", c.UID, n)
		}
		if n == 50 { // published while older ones wait in the queue: behind them
			b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: 101})
		}
	}
	if n != 101 || s.queue != nil {
		t.Fatalf("received %d, want 101; queue %v", n, s.queue)
	}
	b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: 102})
	if c := <-s.C; c.UID != 102 { // an empty queue: C again
		t.Fatalf("after the burst: %+v", c)
	}
	for i := range 101 {
		b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: store.UID(200 + i)})
	}
	if !s.Overflowed() {
		t.Fatal("no overflow beyond the limit")
	}
	s.Close()
	if _, ok := s.TryNext(); ok {
		t.Fatal("TryNext after Close reported a change")
	}
}

// TestNotify: SetNotify's function runs after each change is available to TryNext (also
// when it is queued behind a full C, and for a resync), and not after SetNotify(nil).
func TestNotify(t *testing.T) {
	b := New()
	s := b.SubscribeGrowing(alice, 64)
	defer s.Close()
	var held []int // changes available when notified
	s.SetNotify(func() {
		s.mu.Lock()
		held = append(held, len(s.C)+len(s.queue))
		s.mu.Unlock()
	})
	for i := range growingChan + 2 { // C full: the last two are queued
		b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: store.UID(i + 1)})
	}
	b.Publish(store.Change{Kind: store.MessageAdded, Account: bob, UID: 99})
	b.ResyncAll() // C is full: the resync change is dropped, the subscription overflowed
	if len(held) != growingChan+3 {
		t.Fatalf("notified %d times: %v", len(held), held)
	}
	for i, n := range held[:growingChan+2] {
		if n != i+1 {
			t.Fatalf("notification %d with %d changes available: %v", i, n, held)
		}
	}
	if !s.Overflowed() {
		t.Fatal("resync did not mark the subscription")
	}
	for i := range growingChan + 2 {
		if ch, ok := s.TryNext(); !ok || ch.UID != store.UID(i+1) {
			t.Fatalf("change %d: %+v %v", i, ch, ok)
		}
	}
	s2 := b.SubscribeGrowing(alice, 64)
	defer s2.Close()
	calls := 0
	s2.SetNotify(func() { calls++ })
	b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: 50})
	s2.SetNotify(nil)
	b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: 51})
	if calls != 1 {
		t.Fatalf("%d notifications, want 1 (none after SetNotify(nil))", calls)
	}
}

// TestGrowingSubscriptionIsSmall: an idle SubscribeGrowing subscription costs a few
// hundred bytes whatever its limit (an IMAP session in IDLE holds two); with a channel of
// 8 changes it was over a kilobyte.
func TestGrowingSubscriptionIsSmall(t *testing.T) {
	const n = 1000
	b := New()
	subs := make([]*Subscription, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range subs {
		subs[i] = b.SubscribeGrowing(alice, 1024)
	}
	runtime.ReadMemStats(&after)
	for _, s := range subs {
		s.Close()
	}
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 600 {
		t.Fatalf("%d bytes allocated per subscription, want at most 600", per)
	} else {
		t.Logf("%d bytes per subscription", per)
	}
}

// TestWatch: Watch hands fn the changes published before and after it was set, in order,
// and none of another account's.
func TestWatch(t *testing.T) {
	b := New()
	var got []store.UID
	s := b.Watch(alice, 4, func(ch store.Change) { got = append(got, ch.UID) })
	defer s.Close()
	for _, u := range []store.UID{1, 2} {
		b.Publish(store.Change{Kind: store.MessageAdded, Account: alice, UID: u})
	}
	b.Publish(store.Change{Kind: store.MessageAdded, Account: bob, UID: 99})
	b.Publish(store.Change{Kind: store.AccountDeleted, Account: alice, UID: 3})
	if !slices.Equal(got, []store.UID{1, 2, 3}) {
		t.Fatalf("watched %v, want [1 2 3]", got)
	}
	if _, ok := s.TryNext(); ok {
		t.Fatal("a change was left on the subscription")
	}
}
