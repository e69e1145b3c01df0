package queue

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Defaults of SchedulerOptions, after Postfix (minimal_backoff_time, maximal_backoff_time,
// maximal_queue_lifetime, delay_warning_time, default_destination_concurrency_limit).
const (
	DefaultFirstRetry    = 5 * time.Minute
	DefaultMaxRetry      = 4 * time.Hour
	DefaultLifetime      = 5 * 24 * time.Hour
	DefaultDelayWarning  = 4 * time.Hour
	DefaultConcurrency   = 20
	DefaultPerDomain     = 4
	DefaultPollInterval  = 5 * time.Second
	DefaultLeaseFor      = time.Hour
	DefaultStopTimeout   = 30 * time.Second
	DefaultDSNFullLimit  = 10 << 20
	DefaultMaxRecipients = 50
)

// SchedulerOptions configures a Scheduler. Zero fields take the defaults above.
type SchedulerOptions struct {
	// Hostname is this MTA's name: DSN Reporting-MTA and From: MAILER-DAEMON@Hostname.
	Hostname string
	// Node names this scheduler as a lease owner; default Hostname. Each running
	// scheduler sharing a queue needs its own name (see Queue.Recover).
	Node string
	// Submit receives the DSNs. Without it DSNs are logged and dropped.
	Submit Submit
	// Now is the clock; default time.Now. Tests inject a fake clock.
	Now func() time.Time

	FirstRetry    time.Duration // first retry after a temporary failure; doubles each round
	MaxRetry      time.Duration // cap of the retry interval
	Lifetime      time.Duration // temporary failures become final ("expired") after this
	DelayWarning  time.Duration // one "delayed" DSN after this; negative disables
	Concurrency   int           // deliveries (remote transactions) in flight in all
	PerDomain     int           // deliveries in flight per destination domain
	MaxRecipients int           // recipients per transaction
	PollInterval  time.Duration // how often to look for due items without a Kick
	LeaseFor      time.Duration // lease length; must exceed the longest delivery round
	StopTimeout   time.Duration // how long Run waits for in-flight deliveries on stop
	DSNFullLimit  int64         // largest original returned whole in a DSN; larger ones: headers only
	TempDir       string        // where DSNs are spooled before Submit; default os.TempDir()
	Logger        *slog.Logger
}

func (o *SchedulerOptions) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.FirstRetry, DefaultFirstRetry)
	def(&o.MaxRetry, DefaultMaxRetry)
	def(&o.Lifetime, DefaultLifetime)
	def(&o.DelayWarning, DefaultDelayWarning)
	def(&o.PollInterval, DefaultPollInterval)
	def(&o.LeaseFor, DefaultLeaseFor)
	def(&o.StopTimeout, DefaultStopTimeout)
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerDomain <= 0 {
		o.PerDomain = DefaultPerDomain
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = DefaultMaxRecipients
	}
	if o.DSNFullLimit <= 0 {
		o.DSNFullLimit = DefaultDSNFullLimit
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.Node == "" {
		o.Node = o.Hostname
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Scheduler delivers due queue items through a Sender: it leases due items, delivers
// their queued recipients grouped by destination domain under a per-domain and a global
// concurrency limit, records every transaction's outcome at once, retries temporary
// failures with exponential backoff, and sends DSNs (see dsn.go).
type Scheduler struct {
	q      Queue
	sender Sender
	opt    SchedulerOptions
	log    *slog.Logger
	lim    *limiter
	kick   chan struct{}
}

// NewScheduler returns a scheduler for q delivering through s.
func NewScheduler(q Queue, s Sender, opt SchedulerOptions) *Scheduler {
	opt.setDefaults()
	return &Scheduler{
		q:      q,
		sender: s,
		opt:    opt,
		log:    opt.Logger.With(slog.String("component", "queue"), slog.String("node", opt.Node)),
		lim:    newLimiter(opt.Concurrency, opt.PerDomain),
		kick:   make(chan struct{}, 1),
	}
}

// Kick makes Run look for due items now (call it after Enqueue). It never blocks.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is cancelled. Then it stops leasing and waits for in-flight
// deliveries to finish, at most StopTimeout; after that it aborts them (their items
// become due again at once) and returns when every goroutine has ended. It returns an
// error only if the queue could not be prepared.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.q.Recover(ctx, s.opt.Node); err != nil {
		return err
	}
	// Deliveries outlive ctx by up to StopTimeout, so they get their own context.
	dctx, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	var wg sync.WaitGroup
	slots := make(chan struct{}, s.opt.Concurrency) // items in flight
	ticker := time.NewTicker(s.opt.PollInterval)
	defer ticker.Stop()
	for {
		s.leaseAndStart(ctx, dctx, slots, &wg)
		select {
		case <-ctx.Done():
			s.stop(&wg, abort)
			return nil
		case <-s.kick:
		case <-ticker.C:
		}
	}
}

// leaseAndStart leases as many due items as there are free slots and starts them.
func (s *Scheduler) leaseAndStart(ctx, dctx context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	free := cap(slots) - len(slots)
	if free == 0 || ctx.Err() != nil {
		return
	}
	items, err := s.q.Lease(ctx, s.opt.Node, s.opt.Now(), free, s.opt.LeaseFor)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("lease due items", slog.Any("err", err))
		}
		return
	}
	for _, it := range items {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.process(dctx, it)
			<-slots
			s.Kick() // a slot is free: look for more due items
		}()
	}
}

// stop waits for in-flight items, aborting them after StopTimeout.
func (s *Scheduler) stop(wg *sync.WaitGroup, abort context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(s.opt.StopTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("stop timeout: aborting in-flight deliveries")
		abort()
		<-done
	}
}

// backoff is the wait after the n-th delivery round: FirstRetry doubling up to MaxRetry.
func (s *Scheduler) backoff(n int) time.Duration {
	d := s.opt.FirstRetry
	for i := 1; i < n && d < s.opt.MaxRetry; i++ {
		d *= 2
	}
	return min(d, s.opt.MaxRetry)
}

// nextAttempt schedules the next round of it after a round that ended at now.
func (s *Scheduler) nextAttempt(it *Item, now time.Time) time.Time {
	if len(it.Pending()) == 0 {
		return now.Add(s.opt.FirstRetry) // only DSNs left to send
	}
	next := now.Add(s.backoff(it.Attempts))
	// One last try when the lifetime ends, so expiry is reported on time.
	if end := it.Queued.Add(s.opt.Lifetime); end.After(now) && end.Before(next) {
		next = end
	}
	return next
}
