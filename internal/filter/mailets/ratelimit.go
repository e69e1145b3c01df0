package mailets

import (
	"context"
	"strconv"
	"sync"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/store"
)

// RateLimit bounds what one authenticated account may send: messages per hour (counted
// at MAIL FROM, as Postfix's anvil counts message delivery requests) and recipients per
// day (counted at each accepted RCPT TO). Past a limit the command is deferred with
// 451 4.7.1 (RFC 3463: delivery not authorized for now; the client retries later), so a
// compromised account cannot flood the outbound queue. Mail from the Internet and
// internal mail are not counted.
//
// The windows slide exactly: each account keeps the times of its counted events, at
// most the limit of them, in memory. The counts are per node: in a cluster an account
// spreading its sessions over n nodes gets up to n times the limit.
type RateLimit struct {
	MessagesPerHour  int // 0 = unlimited
	RecipientsPerDay int // 0 = unlimited
	Now              func() time.Time

	mu    sync.Mutex
	msgs  map[store.AccountRef]*window
	rcpts map[store.AccountRef]*window
	calls int
}

// window holds event times, oldest first.
type window struct{ at []time.Time }

// Name implements filter.Mailet.
func (l *RateLimit) Name() string { return "rate-limit" }

// Stages implements filter.Stager.
func (l *RateLimit) Stages() []filter.Stage {
	return []filter.Stage{filter.StageMail, filter.StageRcpt}
}

// Service implements filter.Mailet.
func (l *RateLimit) Service(_ context.Context, m *filter.Mail) error {
	a := m.Envelope.Account
	if a == nil || m.Envelope.Internal {
		return nil
	}
	limit, span, what := l.MessagesPerHour, time.Hour, "messages per hour"
	if m.Stage == filter.StageRcpt {
		limit, span, what = l.RecipientsPerDay, 24*time.Hour, "recipients per day"
	}
	if limit <= 0 {
		return nil
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	ref := store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
	for _, r := range active(m) {
		if !l.take(m.Stage, ref, limit, span, now()) {
			m.Logger.Warn("rate limit", "account", a.Address.String(), "limit", limit, "per", what)
			r.Defer(filter.DeferPolicy("Rate limit exceeded: at most " + strconv.Itoa(limit) + " " + what))
		}
	}
	return nil
}

// take counts one event at now if fewer than limit were counted within span.
func (l *RateLimit) take(stage filter.Stage, ref store.AccountRef, limit int, span time.Duration, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msgs == nil {
		l.msgs, l.rcpts = map[store.AccountRef]*window{}, map[store.AccountRef]*window{}
	}
	m := l.msgs
	if stage == filter.StageRcpt {
		m = l.rcpts
	}
	l.calls++
	if l.calls%4096 == 0 {
		l.sweep(now)
	}
	w := m[ref]
	if w == nil {
		w = &window{}
		m[ref] = w
	}
	w.prune(now.Add(-span))
	if len(w.at) >= limit {
		return false
	}
	w.at = append(w.at, now)
	return true
}

func (w *window) prune(before time.Time) {
	i := 0
	for i < len(w.at) && !w.at[i].After(before) {
		i++
	}
	if i > 0 {
		w.at = append(w.at[:0], w.at[i:]...)
	}
}

// sweep forgets accounts with nothing counted in their window (bounded memory).
func (l *RateLimit) sweep(now time.Time) {
	for m, span := range map[*map[store.AccountRef]*window]time.Duration{&l.msgs: time.Hour, &l.rcpts: 24 * time.Hour} {
		for ref, w := range *m {
			w.prune(now.Add(-span))
			if len(w.at) == 0 {
				delete(*m, ref)
			}
		}
	}
}
