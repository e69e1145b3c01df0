package scheduletest

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/schedule"
)

// cpu is the process's user+system CPU time so far.
func cpu(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Bench measures the life of b.N items of 4 KiB: Add, then a Runner leasing 16 at a time
// and sending each with a no-op Sender (Lease + Done). It reports wall and CPU time
// (cpu-ns/op: the test process's, not the database server's) per item.
func Bench(b *testing.B, s schedule.Store) {
	msg := make([]byte, 4096)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	ctx := context.Background()
	r := schedule.NewRunner(s, func(context.Context, schedule.Item) error { return nil }, schedule.RunnerOptions{Now: fixed(t0)})
	b.ResetTimer()
	start := cpu(b)
	for i := range b.N {
		it := item(ann, t0, fmt.Sprint(i))
		it.Message = msg
		if _, err := s.Add(ctx, it); err != nil {
			b.Fatal(err)
		}
	}
	for sent := 0; sent < b.N; {
		n, err := r.RunOnce(ctx)
		if err != nil || n == 0 {
			b.Fatalf("RunOnce: %d %v after %d of %d", n, err, sent, b.N)
		}
		sent += n
	}
	b.ReportMetric(float64(cpu(b)-start)/float64(b.N), "cpu-ns/op")
}
