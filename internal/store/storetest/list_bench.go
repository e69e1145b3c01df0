package storetest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// BenchList measures store.Lister.ListMessages over one mailbox of n generated messages
// (delivered by 20 goroutines, each body to up to 20 copies so 100,000 arrive in minutes
// on PostgreSQL; one in five unseen, one in two hundred flagged): pages of
// 50 in every order, at the start, the middle and the end, and with each filter. Each
// sub-benchmark reports p50-µs and p99-µs besides ns/op. The first page sorted by subject
// is logged, not measured: a driver that fills sort keys lazily (rows from before its
// keys were written at insert) would fill them there.
func BenchList(b *testing.B, s store.Store, n int) {
	l, ok := s.(store.Lister)
	if !ok {
		b.Skip("no store.Lister")
	}
	ctx := b.Context()
	a := store.AccountRef{Domain: "example.com", ID: 1}
	if err := s.EnsureAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	words := []string{"invoice", "meeting", "report", "budget", "travel", "lunch", "review", "release", "contract"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	copies := min(20, max(1, n/5000))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 20 {
		wg.Go(func() {
			for m := int(next.Add(1)); m <= n/copies; m = int(next.Add(1)) {
				subj := fmt.Sprintf("%s %s %d", words[m%len(words)], words[(m/7)%len(words)], m)
				if m%3 == 0 {
					subj = "Re: " + subj
				}
				msg := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nSubject: %s\r\n\r\nbody %d\r\n", m%500, m%500, subj, m)
				flags := []string{store.FlagSeen}
				if m%5 == 0 {
					flags = nil
				}
				if m%200 == 0 {
					flags = append(flags, store.FlagFlagged)
				}
				targets := make([]store.DeliveryTarget, copies)
				for i := range targets {
					targets[i] = store.DeliveryTarget{Account: a, Flags: flags}
				}
				res, err := s.Deliver(ctx, store.Delivery{Body: body(msg), InternalDate: base.Add(time.Duration(m) * time.Minute),
					Targets: targets})
				if err != nil || res[0].Err != nil {
					b.Errorf("Deliver: %v %+v", err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	b.Logf("delivered %d messages in %v", n, time.Since(start))
	mb, err := s.Mailbox(ctx, a, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	if _, err := l.ListMessages(ctx, a, mb.ID, store.ListQuery{Sort: store.SortSubject, Limit: 50}); err != nil {
		b.Fatal(err)
	}
	b.Logf("first page by subject of %d messages: %v", n, time.Since(start))
	for _, c := range []struct {
		name string
		q    store.ListQuery
	}{
		{"date-desc", store.ListQuery{Desc: true}},
		{"date-asc", store.ListQuery{}},
		{"date-middle", store.ListQuery{Desc: true, Offset: n / 2}},
		{"date-last", store.ListQuery{Desc: true, Offset: n - 50}},
		{"subject-asc", store.ListQuery{Sort: store.SortSubject}},
		{"from-desc", store.ListQuery{Sort: store.SortFrom, Desc: true}},
		{"size-desc", store.ListQuery{Sort: store.SortSize, Desc: true}},
		{"unseen-date", store.ListQuery{Desc: true, Filter: store.FilterUnseen}},
		{"flagged-subject", store.ListQuery{Sort: store.SortSubject, Filter: store.FilterFlagged}},
	} {
		c.q.Limit = 50
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				t := time.Now()
				p, err := l.ListMessages(ctx, a, mb.ID, c.q)
				if err != nil || len(p.Messages) == 0 {
					b.Fatalf("ListMessages(%+v): %v, %d messages", c.q, err, len(p.Messages))
				}
				lat = append(lat, time.Since(t))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds()), "p99-µs")
		})
	}
}
