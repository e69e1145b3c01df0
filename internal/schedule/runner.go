package schedule

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Sender submits one due item. It returns nil when the message was accepted for every
// recipient (committed locally, queued for remote ones), an error marked Permanent when
// no retry can help (the item is failed), and any other error to retry later.
type Sender func(ctx context.Context, it Item) error

// RunnerOptions configure a Runner; zero values take the defaults.
type RunnerOptions struct {
	Poll     time.Duration // between lease attempts; default 1s
	LeaseFor time.Duration // a lease's length; default 5m
	// SendTimeout bounds one send; default LeaseFor/2, and at most that, so a live node
	// finishes before its lease can run out.
	SendTimeout time.Duration
	Batch       int             // items leased at once; default 16
	Backoff     []time.Duration // waits before retries 1, 2, …; default 1m, 5m, 15m, 30m, then 1h
	GiveUp      time.Duration   // a temporary failure this long after Created fails the item; default 24h
	Now         func() time.Time
	Logger      *slog.Logger
}

// Runner sends due items; one runs on every node.
type Runner struct {
	st   Store
	send Sender
	opt  RunnerOptions
	kick chan struct{}
}

// NewRunner builds a Runner over st that sends with send.
func NewRunner(st Store, send Sender, opt RunnerOptions) *Runner {
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.LeaseFor <= 0 {
		opt.LeaseFor = 5 * time.Minute
	}
	if opt.SendTimeout <= 0 || opt.SendTimeout > opt.LeaseFor/2 {
		opt.SendTimeout = opt.LeaseFor / 2
	}
	if opt.Batch <= 0 {
		opt.Batch = 16
	}
	if len(opt.Backoff) == 0 {
		opt.Backoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}
	}
	if opt.GiveUp <= 0 {
		opt.GiveUp = 24 * time.Hour
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{st: st, send: send, opt: opt, kick: make(chan struct{}, 1)}
}

// Kick makes Run look for due items now instead of at the next poll.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run sends due items until ctx is done; it returns ctx's error.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.opt.Poll)
	defer t.Stop()
	for {
		for {
			n, err := r.RunOnce(ctx)
			if err != nil {
				r.opt.Logger.Warn("schedule: lease", "err", err)
			}
			if err != nil || n < r.opt.Batch || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-r.kick:
		}
	}
}

// RunOnce leases one batch of due items and sends each; it returns how many it leased.
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	leased := r.opt.Now()
	items, err := r.st.Lease(ctx, leased, r.opt.LeaseFor, r.opt.Batch)
	if err != nil {
		return 0, err
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break // the leases run out; another node or the next start sends them
		}
		// A send must end before its lease does: an item whose turn in the batch came too
		// late is handed back for any node to lease again.
		if r.opt.Now().Sub(leased) > r.opt.LeaseFor-r.opt.SendTimeout {
			if err := r.st.Retry(ctx, it.ID, it.Token, it.Due, it.LastError); err != nil && !errors.Is(err, ErrLeaseLost) {
				r.opt.Logger.Warn("schedule: hand back", "id", it.ID, "err", err)
			}
			continue
		}
		r.one(ctx, it)
	}
	return len(items), nil
}

// one sends a leased item and records the outcome.
func (r *Runner) one(ctx context.Context, it Item) {
	sctx, cancel := context.WithTimeout(ctx, r.opt.SendTimeout)
	err := r.send(sctx, it)
	cancel()
	log := r.opt.Logger.With("id", it.ID, "domain", it.Owner.Domain, "account", it.Owner.Account)
	// The outcome is recorded even when ctx ended during the send: a sent message must
	// not be sent again.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer rcancel()
	var rerr error
	switch {
	case err == nil:
		rerr = r.st.Done(rctx, it.ID, it.Token)
		log.Info("schedule: sent", "attempt", it.Attempts)
	case IsPermanent(err):
		rerr = r.st.Fail(rctx, it.ID, it.Token, err.Error())
		log.Warn("schedule: refused", "err", err)
	case r.opt.Now().Sub(it.Created) >= r.opt.GiveUp:
		rerr = r.st.Fail(rctx, it.ID, it.Token, "gave up after temporary failures: "+err.Error())
		log.Warn("schedule: gave up", "err", err)
	default:
		wait := r.opt.Backoff[min(max(it.Attempts-1, 0), len(r.opt.Backoff)-1)]
		rerr = r.st.Retry(rctx, it.ID, it.Token, r.opt.Now().Add(wait), err.Error())
		log.Info("schedule: retry", "err", err, "in", wait)
	}
	if errors.Is(rerr, ErrLeaseLost) {
		log.Error("schedule: lease lost before the outcome was recorded", "sent", err == nil)
	} else if rerr != nil {
		log.Error("schedule: record outcome", "err", rerr, "sent", err == nil)
	}
}
