// Package bus fans committed store changes out to the sessions that watch an account
// (IMAP IDLE, webmail push). This is the in-process bus of the single-node shape; the
// cluster shape adds a PostgreSQL LISTEN/NOTIFY transport that feeds the same Bus.
//
// Model: a Subscription watches one account and receives every Change for it in commit
// order on a buffered channel. Publish never blocks: when a subscriber's buffer is full the
// subscription is marked Overflowed and further changes are dropped for it; the session
// must then resynchronise from the store (IMAP: recompute its view, or BYE). Losing a
// notification can therefore never lose mail, only cost a resync.
//
// A subscription from SubscribeGrowing holds a channel of one change and queues a burst
// beyond it in a slice that grows on demand up to its limit and is released when read: an
// idle IMAP session then costs a few hundred bytes instead of its whole burst allowance.
// Its reader takes what C wakes it for (or SetNotify tells it of) and then the rest with
// TryNext.
package bus

import (
	"sync"
	"sync/atomic"

	"mailgrid/internal/store"
)

// Bus is an in-process Publisher with per-account subscriptions. The zero value is not
// usable; call New.
type Bus struct {
	mu   sync.RWMutex
	subs map[store.AccountRef]map[*Subscription]struct{}
	obs  map[*observer]struct{}
}

type observer struct{ fn func([]store.Change) }

// New returns an empty bus.
func New() *Bus {
	return &Bus{subs: make(map[store.AccountRef]map[*Subscription]struct{})}
}

// Subscription receives the changes of one account.
type Subscription struct {
	C          <-chan store.Change
	c          chan store.Change
	bus        *Bus
	acct       store.AccountRef
	overflowed atomic.Bool
	closeOnce  sync.Once

	notify atomic.Pointer[func()] // SetNotify

	mu    sync.Mutex     // SubscribeGrowing: orders C and queue
	max   int            // SubscribeGrowing: most changes held; 0: only C's buffer
	queue []store.Change // published while C was full, older ones first
	done  bool           // closed: TryNext reports nothing
}

// growingChan is the channel buffer of a SubscribeGrowing subscription: one change wakes
// its reader, who takes the rest with TryNext. (It was 8: about 900 bytes more per
// subscription, and an IMAP session holds two.)
const growingChan = 1

// SetNotify makes Publish and ResyncAll call fn after each change they hand to the
// subscription (C took it, or the queue, or it overflowed the subscription), in their
// goroutine: fn must not block; a change dropped once overflowed calls nothing. It lets a reader that waits on something else than C (an
// IMAP session in IDLE reading its socket) be woken, instead of a goroutine waiting on
// C. nil removes it.
func (s *Subscription) SetNotify(fn func()) {
	if fn == nil {
		s.notify.Store(nil)
		return
	}
	s.notify.Store(&fn)
}

// Watch subscribes to acct's changes (a buffer of buf, as Subscribe) and hands each to
// fn as it is published, in the publisher's goroutine (SetNotify; fn must not block),
// those published before the notify function was set included. For sessions that only
// listen for the changes that end them (POP3, ManageSieve). Overflowed and Close work as
// for any subscription.
func (b *Bus) Watch(acct store.AccountRef, buf int, fn func(store.Change)) *Subscription {
	s := b.Subscribe(acct, buf)
	drain := func() {
		for ch, ok := s.TryNext(); ok; ch, ok = s.TryNext() {
			fn(ch)
		}
	}
	s.SetNotify(drain)
	drain() // what came before SetNotify
	return s
}

// notified calls the SetNotify function, if any.
func (s *Subscription) notified() {
	if fn := s.notify.Load(); fn != nil {
		(*fn)()
	}
}

// Overflowed reports whether changes were dropped because the buffer was full.
func (s *Subscription) Overflowed() bool { return s.overflowed.Load() }

// Close ends the subscription. C is closed; it is safe to call more than once.
func (s *Subscription) Close() {
	s.closeOnce.Do(func() {
		b := s.bus
		b.mu.Lock()
		if m := b.subs[s.acct]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(b.subs, s.acct)
			}
		}
		close(s.c)
		s.mu.Lock()
		s.queue, s.done = nil, true
		s.mu.Unlock()
		b.mu.Unlock()
	})
}

// Subscribe watches acct with a buffer of size buf (minimum 16).
func (b *Bus) Subscribe(acct store.AccountRef, buf int) *Subscription {
	if buf < 16 {
		buf = 16
	}
	return b.subscribe(&Subscription{acct: acct}, buf)
}

// SubscribeGrowing watches acct holding up to limit changes (minimum 16) before it
// overflows, but only a channel of one up front; the rest is queued on demand. Its reader
// must, after each receive from C, take the remaining changes with TryNext until it
// reports none (a change queued behind C wakes nobody).
func (b *Bus) SubscribeGrowing(acct store.AccountRef, limit int) *Subscription {
	return b.subscribe(&Subscription{acct: acct, max: max(limit, 16)}, growingChan)
}

func (b *Bus) subscribe(s *Subscription, buf int) *Subscription {
	acct := s.acct
	c := make(chan store.Change, buf)
	s.C, s.c, s.bus = c, c, b
	b.mu.Lock()
	m := b.subs[acct]
	if m == nil {
		m = make(map[*Subscription]struct{})
		b.subs[acct] = m
	}
	m[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish delivers changes to the subscribers of their accounts without blocking. An
// AccountResync change marks the account's subscriptions overflowed (they must resync)
// and is still delivered, to wake a waiting session.
func (b *Bus) Publish(changes ...store.Change) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for o := range b.obs {
		o.fn(changes)
	}
	for _, ch := range changes {
		for s := range b.subs[ch.Account] {
			if ch.Kind == store.AccountResync {
				s.overflowed.Store(true)
				select {
				case s.c <- ch:
				default:
				}
				s.notified()
				continue
			}
			if s.overflowed.Load() {
				continue
			}
			s.send(ch)
			s.notified()
		}
	}
}

// send hands ch to C, or queues it behind C (SubscribeGrowing), or marks the
// subscription overflowed.
func (s *Subscription) send(ch store.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 { // nothing queued is older: C keeps the order
		select {
		case s.c <- ch:
			return
		default:
		}
	}
	if len(s.queue)+cap(s.c) < s.max {
		s.queue = append(s.queue, ch)
		return
	}
	s.overflowed.Store(true)
}

// TryNext returns the oldest change not yet received, from C or else the queue, without
// waiting; ok is false when there is none or the subscription is closed.
func (s *Subscription) TryNext() (ch store.Change, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return store.Change{}, false
	}
	select {
	case ch, ok = <-s.c:
		return ch, ok
	default:
	}
	if len(s.queue) == 0 {
		return store.Change{}, false
	}
	ch = s.queue[0]
	if s.queue = s.queue[1:]; len(s.queue) == 0 {
		s.queue = nil // release the burst's memory
	}
	return ch, true
}

// Observe hands every published batch of changes, of every account, to fn (the Junk
// trainer of package filter watches all accounts this way; the IMAP server keeps its
// mailbox cache current). ResyncAll hands it an AccountResync with a zero Account. fn runs in Publish's
// goroutine and must not block or keep the slice; it queues what it needs. The returned
// stop removes it.
func (b *Bus) Observe(fn func(changes []store.Change)) (stop func()) {
	o := &observer{fn: fn}
	b.mu.Lock()
	if b.obs == nil {
		b.obs = map[*observer]struct{}{}
	}
	b.obs[o] = struct{}{}
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.obs, o)
		b.mu.Unlock()
	}
}

// ResyncAll marks every subscription overflowed and wakes it: after a transport lost
// notifications of unknown accounts (a reconnect), every session recomputes its view.
// Observers are handed one AccountResync change with a zero Account, meaning every account.
func (b *Bus) ResyncAll() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	all := []store.Change{{Kind: store.AccountResync}}
	for o := range b.obs {
		o.fn(all)
	}
	for acct, m := range b.subs {
		for s := range m {
			s.overflowed.Store(true)
			select {
			case s.c <- store.Change{Kind: store.AccountResync, Account: acct}:
			default:
			}
			s.notified()
		}
	}
}

var _ store.Publisher = (*Bus)(nil)
