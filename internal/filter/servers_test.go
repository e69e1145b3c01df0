package filter_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/clamd"
	"mailgrid/internal/filter/filtertest"
	"mailgrid/internal/filter/rspamd"
)

func TestRecorderCountsAndPercentiles(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := filter.NewRecorder(func() time.Time { return now })
	if st := r.Stats(); st.Health != filter.HealthUnknown || st.Calls != 0 || st.P50 != 0 {
		t.Fatalf("fresh recorder: %+v", st)
	}
	for i := 1; i <= 100; i++ {
		r.ObserveCall(time.Duration(i)*time.Millisecond, nil)
	}
	r.ObserveCall(time.Second, fmt.Errorf("scan: %w", context.DeadlineExceeded))
	r.ObserveCall(2*time.Millisecond, errors.New("refused"))
	st := r.Stats()
	if st.Calls != 102 || st.Errors != 2 || st.Timeouts != 1 || st.Samples != 102 {
		t.Fatalf("counters: %+v", st)
	}
	if st.Last != 2*time.Millisecond || st.LastError != "refused" || !st.LastErrorAt.Equal(now) {
		t.Fatalf("last: %+v", st)
	}
	// Nearest rank of 102 samples (1, 2, 2, 3 ... 100 ms, 1 s): p50 is the 51st (50 ms),
	// p99 the 101st (100 ms).
	if st.P50 != 50*time.Millisecond || st.P99 != 100*time.Millisecond {
		t.Fatalf("p50 %v p99 %v", st.P50, st.P99)
	}
	// The ring keeps the most recent calls only.
	for range filter.RecentCalls {
		r.ObserveCall(7*time.Millisecond, nil)
	}
	if st := r.Stats(); st.P99 != 7*time.Millisecond || st.Samples != filter.RecentCalls || st.Calls != 102+filter.RecentCalls {
		t.Fatalf("after the ring turned: %+v", st)
	}
	r.ObserveCheck(time.Millisecond, nil)
	if st := r.Stats(); st.Health != filter.HealthUp || !st.Checked.Equal(now) {
		t.Fatalf("after a good check: %+v", st)
	}
	r.ObserveCheck(time.Millisecond, errors.New("connection refused"))
	if st := r.Stats(); st.Health != filter.HealthDown || st.LastError != "connection refused" {
		t.Fatalf("after a failed check: %+v", st)
	}
}

func TestServersStatusChecksStaleOnly(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := filter.NewServers(func() time.Time { return now })
	checks := 0
	s.Add(filter.ServerInfo{Name: "hook", Kind: filter.KindHTTPHook}, func(context.Context) error { checks++; return nil })
	ctx := context.Background()
	if st := s.Status(ctx, time.Minute); checks != 1 || st[0].Health != filter.HealthUp || st[0].Name != "hook" {
		t.Fatalf("first status: checks %d %+v", checks, st)
	}
	s.Status(ctx, time.Minute) // fresh: not checked again
	if checks != 1 {
		t.Fatalf("a fresh status checked again (%d)", checks)
	}
	now = now.Add(2 * time.Minute)
	s.Status(ctx, time.Minute)
	s.Check(ctx)
	if checks != 3 {
		t.Fatalf("stale status and Check: %d checks, want 3", checks)
	}
}

// TestServersRealScanners records real clamd and rspamd calls: up, the calls counted,
// clamd stopped is down and its scans errors; a clamd that never answers is a timeout.
func TestServersRealScanners(t *testing.T) {
	cd := filtertest.StartClamd(t)
	rs := filtertest.StartRspamd(t)
	ctx := context.Background()
	srv := filter.NewServers(nil)
	var cc *clamd.Client
	crec := srv.Add(filter.ServerInfo{Name: "virus", Kind: filter.KindClamd, Address: "unix:" + cd.Socket},
		func(ctx context.Context) error { return cc.Ping(ctx) })
	cc, err := clamd.New(clamd.Config{Network: "unix", Address: cd.Socket, Timeout: 30 * time.Second, Observer: crec})
	if err != nil {
		t.Fatal(err)
	}
	var rc *rspamd.Client
	rrec := srv.Add(filter.ServerInfo{Name: "rspamd", Kind: filter.KindRspamd, Address: rs.URL, Policy: filter.FailOpen},
		func(ctx context.Context) error { return rc.Ping(ctx) })
	rc, err = rspamd.New(rspamd.Config{URL: rs.URL, Timeout: 60 * time.Second, Observer: rrec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)

	st := srv.Check(ctx)
	for _, s := range st {
		if s.Health != filter.HealthUp {
			t.Fatalf("%s: %s (%s)", s.Name, s.Health, s.LastError)
		}
	}
	msg := "Subject: t\r\n\r\n" + filtertest.ClamdPattern + "\r\n"
	if res, err := cc.Scan(ctx, strings.NewReader(msg)); err != nil || !res.Infected {
		t.Fatalf("scan: %+v %v", res, err)
	}
	if _, err := rc.Check(ctx, rspamd.Envelope{From: "a@example.org"}, strings.NewReader(msg), int64(len(msg))); err != nil {
		t.Fatal(err)
	}
	if c, r := crec.Stats(), rrec.Stats(); c.Calls != 1 || c.Errors != 0 || r.Calls != 1 || r.Errors != 0 || c.Samples != 1 {
		t.Fatalf("after one call each: clamd %+v rspamd %+v", c, r)
	}

	cd.Stop(t)
	st = srv.Check(ctx)
	if st[0].Health != filter.HealthDown || st[0].LastError == "" || st[1].Health != filter.HealthUp {
		t.Fatalf("clamd stopped: %+v", st)
	}
	if _, err := cc.Scan(ctx, strings.NewReader(msg)); !errors.Is(err, clamd.ErrUnavailable) {
		t.Fatalf("scan with clamd stopped: %v", err)
	}
	if c := crec.Stats(); c.Calls != 2 || c.Errors != 1 || c.Timeouts != 0 {
		t.Fatalf("a refused scan: %+v", c)
	}
}

// TestServersTimeoutCounted: a clamd socket that accepts and never answers makes a scan
// time out, counted as an error and a timeout.
func TestServersTimeoutCounted(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	held := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			held <- c // kept open, never answered
		}
	}()
	t.Cleanup(func() {
		select {
		case c := <-held:
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		default:
		}
	})
	rec := filter.NewRecorder(nil)
	cc, err := clamd.New(clamd.Config{Network: "tcp", Address: l.Addr().String(), Timeout: 200 * time.Millisecond, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Scan(context.Background(), strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err == nil {
		t.Fatal("a scan nobody answered succeeded")
	}
	if st := rec.Stats(); st.Calls != 1 || st.Errors != 1 || st.Timeouts != 1 {
		t.Fatalf("timeout: %+v", st)
	}
}
