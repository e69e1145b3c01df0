package postgres_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/queue"
	"mailgrid/internal/queue/postgres"
	"mailgrid/internal/queue/queuetest"
	"mailgrid/internal/testkit/pgtest"
)

// benchBody is a message of about 4 KiB.
func benchBody() string {
	return "Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef", 256)
}

func benchRcpts() []queue.Recipient {
	return []queue.Recipient{{Addr: "x@one.test"}, {Addr: "y@two.test"}}
}

// withParam adds a query parameter to a URL DSN.
func withParam(b *testing.B, dsn, key, value string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		b.Fatal(err)
	}
	v := u.Query()
	v.Set(key, value)
	u.RawQuery = v.Encode()
	return u.String()
}

func opsPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkEnqueue measures a durable enqueue (one committed transaction) of a 4 KiB
// message with two recipients, one at a time and from several goroutines at once (where
// PostgreSQL groups the commits' WAL flushes).
func BenchmarkEnqueue(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		q := openQ(b, pgtest.DSN(b))
		for b.Loop() {
			if _, err := q.Enqueue(b.Context(), queue.Envelope{From: "a@example.org"}, benchRcpts(), queuetest.Body(benchBody())); err != nil {
				b.Fatal(err)
			}
		}
		opsPerSecond(b)
	})
	b.Run("parallel8", func(b *testing.B) {
		q := openQ(b, withParam(b, pgtest.DSN(b), "pool_max_conns", "8"))
		b.SetParallelism(4) // 4 goroutines per GOMAXPROCS (8 on this machine)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := q.Enqueue(b.Context(), queue.Envelope{From: "a@example.org"}, benchRcpts(), queuetest.Body(benchBody())); err != nil {
					b.Error(err)
					return
				}
			}
		})
		opsPerSecond(b)
	})
}

// BenchmarkLeaseReportRelease measures one delivery round's queue work per item: lease,
// report both recipients delivered, release (which deletes the item and its body). One
// worker leasing one item at a time, one leasing 16, and four workers (two nodes of two
// workers) leasing 16 each at once.
func BenchmarkLeaseReportRelease(b *testing.B) {
	for _, c := range []struct {
		name           string
		workers, batch int
	}{{"lease1", 1, 1}, {"lease16", 1, 16}, {"2nodes-4workers-lease16", 4, 16}} {
		b.Run(c.name, func(b *testing.B) {
			dsn := pgtest.DSN(b)
			nodes := []*postgres.Queue{openQ(b, dsn), openQ(b, dsn)}
			for range b.N {
				enqueue(b, nodes[0], benchBody(), "x@one.test", "y@two.test")
			}
			now := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			for w := range c.workers {
				wg.Go(func() { leaseWorker(b, nodes[w%2], fmt.Sprint("w", w), now, c.batch, b.N) })
			}
			wg.Wait()
			opsPerSecond(b)
		})
	}
}

// leaseWorker leases, reports and releases until the queue is empty (at most n rounds).
func leaseWorker(b *testing.B, q *postgres.Queue, node string, now time.Time, batch, n int) {
	for range n {
		items, err := q.Lease(b.Context(), node, now, batch, time.Hour)
		if err != nil || len(items) == 0 {
			if err != nil {
				b.Error(err)
			}
			return
		}
		for _, it := range items {
			if err := q.Report(b.Context(), it.ID, delivered("x@one.test", "y@two.test")); err != nil {
				b.Error(err)
				return
			}
			if err := q.Release(b.Context(), it.ID, node, now); err != nil {
				b.Error(err)
				return
			}
		}
	}
}

// BenchmarkOpenBodyRead measures opening and reading a queued 4 KiB body.
func BenchmarkOpenBodyRead(b *testing.B) {
	q := openQ(b, pgtest.DSN(b))
	id := enqueue(b, q, benchBody(), "x@one.test")
	buf := make([]byte, len(benchBody()))
	for b.Loop() {
		blob, err := q.OpenBody(b.Context(), id)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := blob.ReadAt(buf, 0); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
		if err := blob.Close(); err != nil {
			b.Fatal(err)
		}
	}
	opsPerSecond(b)
}
