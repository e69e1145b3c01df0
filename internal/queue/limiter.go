package queue

import (
	"context"
	"sync"
)

// limiter bounds concurrent deliveries: at most perKey per destination domain and at most
// cap(global) in all. A delivery waits for its domain slot before it takes a global slot,
// so deliveries queued behind a busy domain never hold global slots other domains need.
type limiter struct {
	global chan struct{}
	perKey int

	mu   sync.Mutex
	keys map[string]*keySem
}

type keySem struct {
	slots chan struct{}
	users int // holders and waiters; the entry is removed when it drops to zero
}

func newLimiter(global, perKey int) *limiter {
	return &limiter{
		global: make(chan struct{}, global),
		perKey: perKey,
		keys:   make(map[string]*keySem),
	}
}

// acquire blocks until key and the global limit both have a free slot, or ctx ends.
// On success the returned func releases both slots.
func (l *limiter) acquire(ctx context.Context, key string) (release func(), err error) {
	ks := l.ref(key)
	select {
	case ks.slots <- struct{}{}:
	case <-ctx.Done():
		l.unref(key)
		return nil, ctx.Err()
	}
	select {
	case l.global <- struct{}{}:
	case <-ctx.Done():
		<-ks.slots
		l.unref(key)
		return nil, ctx.Err()
	}
	return func() {
		<-l.global
		<-ks.slots
		l.unref(key)
	}, nil
}

func (l *limiter) ref(key string) *keySem {
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.keys[key]
	if ks == nil {
		ks = &keySem{slots: make(chan struct{}, l.perKey)}
		l.keys[key] = ks
	}
	ks.users++
	return ks
}

func (l *limiter) unref(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ks := l.keys[key]
	ks.users--
	if ks.users == 0 {
		delete(l.keys, key)
	}
}
