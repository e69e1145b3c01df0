package queue_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/dns"
	"mailgrid/internal/queue"
	"mailgrid/internal/queue/sqlite"
	"mailgrid/internal/smtpclient"
	"mailgrid/internal/smtpclient/smtptest"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/dnsserver"
)

const ourHost = "mx.mailgrid.test"

// clock is the fake clock of SchedulerOptions.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// submitted is one DSN the scheduler handed to Submit.
type submitted struct {
	env  queue.Envelope
	rcpt string
	data []byte
}

// harness is a scheduler over a real SQLite queue delivering with the real SMTP client
// to a real SMTP sink found through a real DNS server, all on loopback.
type harness struct {
	t     *testing.T
	dir   string
	q     *sqlite.Queue
	sink  *smtptest.Sink
	dns   *dnsserver.Server
	clock *clock
	opt   queue.SchedulerOptions
	sched *queue.Scheduler

	mu   sync.Mutex
	dsns []submitted

	cancel func() // cancels Run's context
	stop   func() // cancels and waits for Run to return
}

func newHarness(t *testing.T, sinkOpt smtptest.Options, mod ...func(*queue.SchedulerOptions)) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clock: &clock{t: time.Now()}}
	h.sink = smtptest.Start(t, sinkOpt)
	h.dns = dnsserver.Start(t)
	for _, d := range []string{"dest.test", "other.test"} {
		h.dns.SetMX(d, "mx1."+d, 10)
		h.dns.SetA("mx1."+d, "127.0.0.1")
	}
	h.q = h.openQueue()
	h.opt = queue.SchedulerOptions{
		Hostname: ourHost,
		Submit:   h.submit,
		Now:      h.clock.Now,
		TempDir:  t.TempDir(),
	}
	for _, m := range mod {
		m(&h.opt)
	}
	return h
}

func (h *harness) openQueue() *sqlite.Queue {
	h.t.Helper()
	q, err := sqlite.Open(h.t.Context(), filepath.Join(h.dir, "queue.db"), filepath.Join(h.dir, "bodies"))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		if err := q.Close(); err != nil {
			h.t.Errorf("close queue: %v", err)
		}
	})
	return q
}

func (h *harness) client() *smtpclient.Client {
	h.t.Helper()
	c, err := smtpclient.New(smtpclient.Options{Hostname: ourHost, Port: h.sink.Port, Resolver: dns.New([]string{h.dns.Addr()}, 5*time.Second)})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// start runs a scheduler on h.q until the test ends or h.stop is called.
func (h *harness) start() {
	h.t.Helper()
	h.sched = queue.NewScheduler(h.q, h.client(), h.opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.sched.Run(ctx) }()
	h.cancel = cancel
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(h.stop)
}

func (h *harness) submit(_ context.Context, env queue.Envelope, rcpt string, body store.Body) error {
	data, err := io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dsns = append(h.dsns, submitted{env, rcpt, data})
	return nil
}

func (h *harness) DSNs() []submitted {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]submitted(nil), h.dsns...)
}

type bytesBody struct{ *bytes.Reader }

func (b bytesBody) Size() int64 { return b.Reader.Size() }

const msg = "From: a@sender.test\r\nTo: b@dest.test\r\nSubject: hello\r\nMessage-ID: <m1@sender.test>\r\n\r\nbody\r\n"

func (h *harness) enqueue(env queue.Envelope, rcpts ...queue.Recipient) string {
	h.t.Helper()
	id, err := h.q.Enqueue(h.t.Context(), env, rcpts, bytesBody{bytes.NewReader([]byte(msg))})
	if err != nil {
		h.t.Fatal(err)
	}
	if h.sched != nil {
		h.sched.Kick()
	}
	return id
}

func rcpt(addr string, notify ...string) queue.Recipient {
	return queue.Recipient{Addr: addr, Notify: notify}
}

// waitFor polls cond (a bounded failsafe, not a timing assertion).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s", what)
}

// waitGone waits until the item left the queue.
func (h *harness) waitGone(id string) {
	h.t.Helper()
	h.waitFor("item "+id+" to finish", func() bool {
		_, err := h.q.Get(h.t.Context(), id)
		return errors.Is(err, queue.ErrNotFound)
	})
}

// waitRound waits until round n of the item ended (released) and returns the item; ok
// is false if the item is gone.
func (h *harness) waitRound(id string, n int) (it queue.Item, ok bool) {
	h.t.Helper()
	h.waitFor("round end", func() bool {
		var err error
		it, err = h.q.Get(h.t.Context(), id)
		ok = err == nil
		if errors.Is(err, queue.ErrNotFound) {
			return true
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return it.Attempts >= n && it.LeaseOwner == ""
	})
	return it, ok
}

// advanceTo sets the clock and wakes the scheduler.
func (h *harness) advanceTo(t time.Time) {
	h.clock.Set(t)
	h.sched.Kick()
}
