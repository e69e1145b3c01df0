package imapserver_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// BenchmarkMixedWorkload measures a mixed IMAP workload over real connections: 20
// clients, each logged in to its own account with 50 messages in INBOX (by default), running in turn
// SELECT, FETCH (flags, envelope, a body section), SEARCH, STORE and APPEND. One op is
// one command; ops/s is reported. $IMAP_BENCH_MESSAGES sets the INBOX size and
// $IMAP_BENCH_SENDERS the number of senders (benchAccount); make bench's mix is 250
// messages from one sender, so its SEARCH FROM matches every message:
//
//	go test -run XXX -bench MixedWorkload -benchtime 2000x ./internal/imapserver
//	IMAP_BENCH_MESSAGES=250 IMAP_BENCH_SENDERS=1 go test -run XXX -bench MixedWorkload -benchtime 2000x ./internal/imapserver
func BenchmarkMixedWorkload(b *testing.B) {
	const clients = 20
	w := newWorld(b)
	_, addr := w.server(b, nil)
	conns := make([]*client, clients)
	for i := range conns {
		user := fmt.Sprintf("bench%d@local.test", i)
		benchAccount(b, w, user)
		c := dial(b, addr)
		c.startTLS()
		c.ok("LOGIN " + user + " bench-password")
		conns[i] = c
	}
	msgs, senders := benchInbox(b)
	ops := []func(c *client, n int){
		func(c *client, n int) { c.ok("SELECT INBOX") },
		func(c *client, n int) {
			c.ok(fmt.Sprintf("FETCH %d (FLAGS ENVELOPE BODY.PEEK[TEXT]<0.200>)", 1+n%msgs))
		},
		func(c *client, n int) { c.ok(fmt.Sprintf("UID SEARCH FROM sender%d UNSEEN", n%senders)) },
		func(c *client, n int) { c.ok(fmt.Sprintf("STORE %d +FLAGS.SILENT (\\Seen)", 1+n%msgs)) },
		func(c *client, n int) {
			c.ok(fmt.Sprintf("APPEND Archive {%d+}\r\n%s", len(benchMsg), benchMsg))
		},
	}
	if os.Getenv("IMAP_BENCH_OPS") != "" { // e.g. "012" to measure a subset
		extra := []func(c *client, n int){ // 5: a flag-only search, as clients poll
			func(c *client, n int) { c.ok("UID SEARCH UNSEEN") },
		}
		all := append(ops, extra...)
		var sub []func(c *client, n int)
		for _, ch := range os.Getenv("IMAP_BENCH_OPS") {
			sub = append(sub, all[ch-'0'])
		}
		ops = sub
	}
	for _, c := range conns {
		c.ok("SELECT INBOX")
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	stopProfile := profileTimed(b)
	b.ResetTimer()
	start := time.Now()
	cpu0 := processCPU(b)
	for _, c := range conns {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			for {
				n := int(next.Add(1))
				if n > b.N {
					return
				}
				ops[n%len(ops)](c, n)
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	stopProfile()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	// CPU time of the process (server and clients) per op: unlike ops/s it hardly moves
	// when other work loads the machine.
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// benchAccount creates the account user (password "bench-password") with small messages
// in INBOX: benchInbox's number, from its number of senders.
func benchAccount(b *testing.B, w *world, user string) {
	a := w.account(b, user, "bench-password", 0)
	msgs, senders := benchInbox(b)
	for m := range msgs {
		w.deliver(b, a, "INBOX", fmt.Sprintf("From: sender%d@example.org\nSubject: message %d\n\n%s\n", m%senders, m, strings.Repeat("body text ", 50)))
	}
}

// benchInbox returns the INBOX size of the benchmarks' accounts, $IMAP_BENCH_MESSAGES
// (default 50), and the number of their senders, $IMAP_BENCH_SENDERS (default 7).
func benchInbox(b *testing.B) (msgs, senders int) {
	return benchEnv(b, "IMAP_BENCH_MESSAGES", 50), benchEnv(b, "IMAP_BENCH_SENDERS", 7)
}

// benchEnv reads a positive count from the environment, def when unset.
func benchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

// profileTimed writes a CPU profile of the timed part only (not the logins and
// deliveries before it) to $IMAP_BENCH_CPUPROFILE when set, for the run with the largest
// b.N; it returns the function that stops it.
//
//	IMAP_BENCH_CPUPROFILE=/tmp/mix.prof go test -run XXX -bench MixedWorkload -benchtime 20000x
func profileTimed(b *testing.B) func() {
	path := os.Getenv("IMAP_BENCH_CPUPROFILE")
	if path == "" || b.N == 1 {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// processCPU is the user and system CPU time the test process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchMsg = "From: bench@local.test\r\nSubject: appended\r\n\r\nappended body\r\n"

// BenchmarkSelect measures SELECT of an INBOX of 2,000 messages over a real connection
// (the store reads every message row of the mailbox: UIDs, flags for UNSEEN and the
// keywords of FLAGS).
//
//	go test -run XXX -bench Select -benchtime 200x ./internal/imapserver
func BenchmarkSelect(b *testing.B) {
	const messages = 2000
	w := newWorld(b)
	_, addr := w.server(b, nil)
	var wg sync.WaitGroup
	var next atomic.Int64
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := int(next.Add(1)); m <= messages; m = int(next.Add(1)) {
				body := bytesBody(fmt.Sprintf("From: Sender %d <sender%d@example.org>\nTo: user@local.test\nSubject: message %d\nMessage-ID: <%d@example.org>\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n%s\n--b\nContent-Type: text/html\n\n<p>%s</p>\n--b--\n",
					m%7, m%7, m, m, strings.Repeat("body text ", 50), strings.Repeat("body text ", 50)))
				res, err := w.st.Deliver(context.Background(), store.Delivery{Body: body,
					Targets: []store.DeliveryTarget{{Account: ref(w.user)}}})
				if err != nil || res[0].Err != nil {
					b.Errorf("deliver: %v %v", err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	c := login(b, addr)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ok("SELECT INBOX")
	}
}
