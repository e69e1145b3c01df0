package postgres

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

// benchDeliverers is the number of concurrent Deliver callers (e.g. SMTP sessions).
const benchDeliverers = 20

// BenchmarkDeliver4K measures durable deliveries of distinct 4 KiB messages by 20
// concurrent callers into 100 accounts, and reports msgs/s. Each delivery is its own
// transaction, committed with synchronous_commit before Deliver returns, message.Parse
// and the NOTIFY included; PostgreSQL's WAL group commit shares the fsyncs.
func BenchmarkDeliver4K(b *testing.B)   { benchDeliver(b, 4<<10) }
func BenchmarkDeliver100K(b *testing.B) { benchDeliver(b, 100<<10) }

func benchDeliver(b *testing.B, size int) {
	s := openAt(b, pgtest.DSN(b), Options{MaxConns: benchDeliverers})
	const accounts = 100
	for i := range accounts {
		if err := s.EnsureAccount(b.Context(), store.AccountRef{Domain: "example.com", ID: int64(i + 1)}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ResetTimer()
	for w := range benchDeliverers {
		wg.Go(func() {
			msg := benchMessage(size)
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				copy(msg, fmt.Sprintf("X-Seq: %012d", n)) // distinct content: no dedup shortcut
				res, err := s.Deliver(b.Context(), store.Delivery{Body: bytes.NewReader(msg),
					Targets: []store.DeliveryTarget{{Account: store.AccountRef{Domain: "example.com", ID: int64(w%accounts + 1)}}}})
				if err != nil || res[0].Err != nil {
					b.Errorf("Deliver: %v %+v", err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchMessage returns a plain-text message of exactly size bytes whose first line is an
// X-Seq header the caller overwrites.
func benchMessage(size int) []byte {
	head := fmt.Sprintf("X-Seq: %012d\r\nFrom: Sender <sender@example.org>\r\nTo: rcpt@example.com\r\n"+
		"Subject: benchmark\r\nMessage-ID: <bench@example.org>\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", 0)
	line := "The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
	body := strings.Repeat(line, size/len(line)+1)
	return []byte((head + body)[:size])
}
