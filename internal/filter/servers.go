package filter

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// External filter servers and what their clients observed of them (the console's "filter
// servers" page, GET /api/v1/filter-servers).
//
// Model: the node registers each external filter it was configured with (clamd, rspamd,
// a milter, an HTTP hook) in Servers, with its kind, address and failure policy, and gets
// a Recorder back. The filter's client holds the Recorder as its Observer and reports
// every call it makes for a message (ObserveCall: latency, error or timeout): nothing is
// sampled from outside, the numbers are the real calls. Servers records the health checks
// it runs (ObserveCheck). A Recorder keeps counters since start, the last latency, a ring
// of the recent latencies (RecentCalls) for p50/p99, and the last health check.
//
// Health is up or down by the last check; "unknown" until one ran. Status runs the check
// of every server whose last one is older than a bound (so a page view is never stale for
// long) and Check runs them all now ("check now"). Checks run concurrently, each bounded by
// CheckTimeout. Everything is per node and in memory: in a cluster each node reports its
// own view of the filters, which is what a node's failure policy acts on.

// RecentCalls is how many recent call latencies a Recorder keeps for its percentiles.
const RecentCalls = 512

// CheckTimeout bounds one health check run by Servers.
const CheckTimeout = 5 * time.Second

// Observer is what a filter client reports its calls to; *Recorder implements it.
// Clients take it as an optional configuration field (nil: nothing recorded).
type Observer interface {
	// ObserveCall reports one call for a message (a scan, a check, a milter session, a
	// hook request): how long it took and its error (nil: it succeeded).
	ObserveCall(d time.Duration, err error)
}

// Recorder keeps one server's call statistics and health. It is safe for concurrent use.
type Recorder struct {
	now func() time.Time

	mu       sync.Mutex
	calls    uint64
	errs     uint64
	timeouts uint64
	last     time.Duration
	ring     [RecentCalls]time.Duration
	n        int // latencies in ring (at most RecentCalls)
	next     int // where the next one goes
	lastErr  string
	errAt    time.Time
	checked  time.Time
	checkOK  bool
	checkDur time.Duration
}

// NewRecorder returns an empty Recorder; now nil is time.Now.
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now}
}

// ObserveCall implements Observer. A deadline passed (context.DeadlineExceeded, a net
// timeout) counts as a timeout as well as an error.
func (r *Recorder) ObserveCall(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.last = d
	r.ring[r.next] = d
	r.next = (r.next + 1) % RecentCalls
	r.n = min(r.n+1, RecentCalls)
	if err != nil {
		r.errs++
		if IsTimeout(err) {
			r.timeouts++
		}
		r.lastErr, r.errAt = err.Error(), r.now()
	}
}

// ObserveCheck records one health check (PING, /ping, a negotiation, GET).
func (r *Recorder) ObserveCheck(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked, r.checkOK, r.checkDur = r.now(), err == nil, d
	if err != nil {
		r.lastErr, r.errAt = err.Error(), r.checked
	}
}

// IsTimeout reports whether err is a deadline that passed: context.DeadlineExceeded, or a
// network timeout (os.ErrDeadlineExceeded, a net.Error that says so).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// Health states.
const (
	HealthUnknown = "unknown" // never checked
	HealthUp      = "up"
	HealthDown    = "down"
)

// ServerStats is a snapshot of a Recorder.
type ServerStats struct {
	Health       string        // HealthUp, HealthDown or HealthUnknown
	Checked      time.Time     // the last health check; zero: none
	CheckLatency time.Duration // how long it took
	LastError    string        // the last error of a call or check; "" none since start
	LastErrorAt  time.Time
	Calls        uint64
	Errors       uint64 // calls that failed (timeouts included)
	Timeouts     uint64
	Last         time.Duration // the last call's latency
	P50, P99     time.Duration // of the recent calls (at most RecentCalls); 0 without calls
	Samples      int           // how many recent calls P50 and P99 are of
}

// Stats returns a snapshot.
func (r *Recorder) Stats() ServerStats {
	r.mu.Lock()
	s := ServerStats{Health: HealthUnknown, Checked: r.checked, CheckLatency: r.checkDur, LastError: r.lastErr,
		LastErrorAt: r.errAt, Calls: r.calls, Errors: r.errs, Timeouts: r.timeouts, Last: r.last, Samples: r.n}
	recent := slices.Clone(r.ring[:r.n])
	if !r.checked.IsZero() {
		s.Health = HealthDown
		if r.checkOK {
			s.Health = HealthUp
		}
	}
	r.mu.Unlock()
	slices.Sort(recent)
	s.P50, s.P99 = percentile(recent, 50), percentile(recent, 99)
	return s
}

// percentile is the nearest-rank percentile p of sorted (0 when empty).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	return sorted[max(rank, 1)-1]
}

// Server kinds.
const (
	KindClamd    = "clamd"
	KindRspamd   = "rspamd"
	KindMilter   = "milter"
	KindHTTPHook = "http-hook"
)

// ServerInfo describes a configured external filter.
type ServerInfo struct {
	Name    string // the mailet name (unique on the node)
	Kind    string // KindClamd, KindRspamd, KindMilter, KindHTTPHook
	Address string // as configured: "unix:/path", "tcp:host:port", a URL
	Policy  Policy // what a failure does
	Domain  string // "" every domain; else the one domain whose mail it filters
	Stages  []Stage
}

// ServerStatus is a server and what was observed of it.
type ServerStatus struct {
	ServerInfo
	ServerStats
}

type server struct {
	info  ServerInfo
	check func(context.Context) error
	rec   *Recorder
}

// Servers is the node's register of external filters. Register them with Add while
// building the chains; afterwards the register is only read (Status, Check are safe for
// concurrent use).
type Servers struct {
	now  func() time.Time
	list []*server
}

// NewServers returns an empty register; now nil is time.Now.
func NewServers(now func() time.Time) *Servers {
	if now == nil {
		now = time.Now
	}
	return &Servers{now: now}
}

// Add registers a server whose health check is check (the client's Ping or Health) and
// returns the Recorder for its client.
func (s *Servers) Add(info ServerInfo, check func(context.Context) error) *Recorder {
	rec := NewRecorder(s.now)
	s.list = append(s.list, &server{info: info, check: check, rec: rec})
	return rec
}

// Len is the number of registered servers.
func (s *Servers) Len() int {
	if s == nil {
		return 0
	}
	return len(s.list)
}

// Status returns every server in registration order, after checking those whose last
// check is older than maxAge (never checked included; maxAge 0 checks all).
func (s *Servers) Status(ctx context.Context, maxAge time.Duration) []ServerStatus {
	if s == nil {
		return nil
	}
	var wg sync.WaitGroup
	for _, sv := range s.list {
		if st := sv.rec.Stats(); maxAge > 0 && !st.Checked.IsZero() && s.now().Sub(st.Checked) < maxAge {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
			defer cancel()
			start := time.Now()
			err := sv.check(cctx)
			sv.rec.ObserveCheck(time.Since(start), err) // the error is shown, not returned
		})
	}
	wg.Wait()
	out := make([]ServerStatus, 0, len(s.list))
	for _, sv := range s.list {
		out = append(out, ServerStatus{ServerInfo: sv.info, ServerStats: sv.rec.Stats()})
	}
	return out
}

// Check checks every server now and returns their status.
func (s *Servers) Check(ctx context.Context) []ServerStatus { return s.Status(ctx, 0) }
