package sqlite

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// benchDeliverers is the number of concurrent Deliver callers (e.g. SMTP sessions).
const benchDeliverers = 20

func BenchmarkDeliver4K(b *testing.B)   { benchDeliver(b, 4<<10, benchDeliverers) }
func BenchmarkDeliver100K(b *testing.B) { benchDeliver(b, 100<<10, benchDeliverers) }

// BenchmarkDeliver4KSerial: one caller, so every commit holds one job (a quiet server).
func BenchmarkDeliver4KSerial(b *testing.B) { benchDeliver(b, 4<<10, 1) }

// benchDeliver measures durable deliveries of distinct messages of the given size by
// callers concurrent callers into 100 accounts, and reports msgs/s and the process's CPU
// time per delivery (which moves less than msgs/s when other work loads the machine).
func benchDeliver(b *testing.B, size, callers int) {
	s := benchStore(b)
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
	cpu0 := processCPU(b)
	for w := range callers {
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
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the user and system CPU time the test process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// benchStore opens a store in a fresh directory for b, closed when b ends.
func benchStore(b *testing.B) *Store {
	s, err := Open(b.Context(), Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return s
}
