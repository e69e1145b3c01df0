package fetch_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/fetch"
	"mailgrid/internal/store"
)

// BenchmarkFetch: one run that stores 100 new 4 KiB messages (delete mode, so each op
// starts from a refilled remote) from our POP3 server over STLS into SQLite.
//
//	go test ./internal/fetch -run - -bench Fetch -benchtime 5x
func BenchmarkFetch(b *testing.B) {
	w := newWorld(b, 0)
	a := w.add(b, false, fetch.TLSStartTLS, remotePass)
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 64)
	const n = 100
	var cpu time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range n {
			msg := fmt.Sprintf("Subject: bench %d/%d\r\n\r\n%s", i, j, body)
			if res, err := w.Store.Deliver(b.Context(), store.Delivery{Body: strings.NewReader(msg), Targets: []store.DeliveryTarget{{Account: deliverytest.Ref(w.remote)}}}); err != nil || res[0].Err != nil {
				b.Fatal(err, res)
			}
		}
		w.clock.Add(time.Hour)
		b.StartTimer()
		c0 := cpuTime(b)
		res, err := w.fetch(b, a)
		if err != nil || res.Fetched != n {
			b.Fatalf("%+v %v", res, err)
		}
		cpu += cpuTime(b) - c0
	}
	// Wall time is mostly fsync (a durable store commit and a remembered UIDL per
	// message); CPU time is the process's (client, server and store together).
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/msg")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/msg")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
