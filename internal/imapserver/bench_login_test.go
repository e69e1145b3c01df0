package imapserver_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLoginCycle measures what a client that connects for every check costs (make
// bench's "login per cycle" variant without its five commands): 20 clients, each op a
// new connection, STARTTLS, LOGIN (the directory's verified-login cache answers after
// the first), SELECT INBOX of 50 messages and LOGOUT.
//
//	IMAP_BENCH_CPUPROFILE=/tmp/login.prof go test -run XXX -bench LoginCycle -benchtime 2000x ./internal/imapserver
func BenchmarkLoginCycle(b *testing.B) {
	const clients = 20
	w := newWorld(b)
	_, addr := w.server(b, nil)
	users := make([]string, clients)
	for i := range users {
		users[i] = fmt.Sprintf("cycle%d@local.test", i)
		benchAccount(b, w, users[i])
		c := dial(b, addr) // a first login of each account, outside the timing
		c.startTLS()
		c.ok("LOGIN " + users[i] + " bench-password")
		c.ok("LOGOUT")
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	stopProfile := profileTimed(b)
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU(b)
	for _, user := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				c := dial(b, addr)
				c.startTLS()
				c.ok("LOGIN " + user + " bench-password")
				c.ok("SELECT INBOX")
				c.ok("LOGOUT")
				if err := c.conn.Close(); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	stopProfile()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cycles/s")
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
