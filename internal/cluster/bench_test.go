package cluster_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkMove moves an account of 2,000 messages of 4 KiB back and forth between two
// shards on the local PostgreSQL server, idle apart from the move: messages/s copied and
// the fence's duration.
func BenchmarkMove(b *testing.B) {
	e := newEnv(b)
	a, ref := e.account("bench@example.test", "s1")
	seed(b, e.st["s1"], ref, "INBOX", 2000, 4096)
	ctx := context.Background()
	if v := os.Getenv("MOVE_BATCH"); v != "" {
		e.eng.Options.BatchMessages, _ = strconv.Atoi(v)
	}
	shards := [2]string{"s2", "s1"}
	var msgs, fence int64
	var took time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		m, err := e.eng.Move(ctx, a.Address, shards[i%2])
		took += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		msgs += m.Messages
		fence += m.FenceMS
		i++
	}
	b.ReportMetric(float64(msgs)/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(fence)/float64(i), "fence-ms/op")
}
