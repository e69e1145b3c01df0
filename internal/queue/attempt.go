package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// bookkeepingTimeout bounds the queue writes after a round (DSNs, Release), which run
// even when deliveries were aborted.
const bookkeepingTimeout = time.Minute

// process runs one delivery round of a leased item and releases it.
func (s *Scheduler) process(ctx context.Context, it Item) {
	log := s.log.With(slog.String("id", it.ID))
	aborted := s.deliverPending(ctx, &it, log)
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	now := s.opt.Now()
	next := now // aborted: due again at once
	if !aborted {
		s.sendDSNs(bctx, &it, log)
		s.delayWarning(bctx, &it, now, log)
		next = s.nextAttempt(&it, now)
	}
	err := s.q.Release(bctx, it.ID, s.opt.Node, next)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		log.Info("item dropped during delivery")
	default:
		log.Error("release", slog.Any("err", err))
	}
}

// deliverPending delivers the item's queued recipients, one transaction per destination
// domain, in parallel under the limiter. Each transaction's outcomes are reported (made
// durable) as soon as it ends. It reports whether deliveries were aborted by ctx.
func (s *Scheduler) deliverPending(ctx context.Context, it *Item, log *slog.Logger) bool {
	pending := it.Pending()
	if len(pending) == 0 {
		return false
	}
	var mu sync.Mutex
	record := func(outs []Outcome) {
		mu.Lock()
		defer mu.Unlock()
		s.record(ctx, it, outs, log)
	}
	groups, bad := groupByDomain(pending)
	if len(bad) > 0 {
		now := s.opt.Now()
		outs := make([]Outcome, len(bad))
		for i, r := range bad {
			outs[i] = s.decide(it, r, RecipientResult{Reply: Reply{Code: 553, Enhanced: "5.1.3", Text: "bad recipient address syntax"}}, now)
		}
		record(outs)
	}
	body, err := s.q.OpenBody(ctx, it.ID)
	if err != nil {
		log.Error("open body", slog.Any("err", err))
		s.deferAll(it, groups, Reply{Enhanced: "4.3.0", Text: fmt.Sprintf("cannot read queued message: %v", err)}, record)
		return ctx.Err() != nil
	}
	defer func() {
		if err := body.Close(); err != nil {
			log.Error("close body", slog.Any("err", err))
		}
	}()
	var wg sync.WaitGroup
	for domain, rcpts := range groups {
		// Large recipient lists are split into transactions of MaxRecipients, as
		// Postfix does (smtp_destination_recipient_limit); RFC 5321 4.5.3.1.8 only
		// promises 100 per transaction.
		for chunk := range slices.Chunk(rcpts, s.opt.MaxRecipients) {
			wg.Go(func() { s.deliverGroup(ctx, it, domain, chunk, body, record) })
		}
	}
	wg.Wait()
	return ctx.Err() != nil
}

// deliverGroup runs one transaction for one domain and records its outcomes.
func (s *Scheduler) deliverGroup(ctx context.Context, it *Item, domain string, rcpts []RecipientStatus, body store.Body, record func([]Outcome)) {
	release, err := s.lim.acquire(ctx, domain)
	if err != nil {
		return // aborted before starting: the recipients stay queued, untouched
	}
	plain := make([]Recipient, len(rcpts))
	for i, r := range rcpts {
		plain[i] = r.Recipient
	}
	results, err := s.sender.Deliver(ctx, domain, it.Envelope, plain, body)
	release()
	aborted := ctx.Err() != nil
	if err == nil && len(results) != len(rcpts) {
		err = fmt.Errorf("sender returned %d results for %d recipients", len(results), len(rcpts))
	}
	if err != nil && aborted {
		return // aborted mid-transaction: nothing was decided, the group stays queued
	}
	now := s.opt.Now()
	outs := make([]Outcome, 0, len(rcpts))
	for i, r := range rcpts {
		res := resultFromError(err)
		if err == nil {
			res = results[i]
		}
		if aborted && res.Temporary && !res.Delivered() {
			continue // an abort artefact, not a verdict of the remote host
		}
		outs = append(outs, s.decide(it, r, res, now))
	}
	if len(outs) > 0 {
		record(outs)
	}
}

// deferAll records a temporary failure for every grouped recipient.
func (s *Scheduler) deferAll(it *Item, groups map[string][]RecipientStatus, reply Reply, record func([]Outcome)) {
	now := s.opt.Now()
	var outs []Outcome
	for _, rcpts := range groups {
		for _, r := range rcpts {
			outs = append(outs, s.decide(it, r, RecipientResult{Reply: reply, Temporary: true}, now))
		}
	}
	record(outs)
}

// resultFromError turns a transaction-wide error into a recipient result.
func resultFromError(err error) RecipientResult {
	if err == nil {
		return RecipientResult{}
	}
	var de *DeliveryError
	if errors.As(err, &de) {
		return RecipientResult{Reply: de.Reply, Temporary: de.Temporary, RemoteMTA: de.RemoteMTA}
	}
	return RecipientResult{Reply: Reply{Enhanced: "4.0.0", Text: err.Error()}, Temporary: true}
}

// decide maps a transaction result to the recipient's new state and whether a DSN is owed.
func (s *Scheduler) decide(it *Item, r RecipientStatus, res RecipientResult, now time.Time) Outcome {
	o := Outcome{Addr: r.Addr, Reply: res.Reply, RemoteMTA: res.RemoteMTA, At: now}
	switch {
	case res.Delivered():
		o.State = StateDelivered
		// RFC 3461 5.2.2: a next hop without DSN support gets the message, we owe a
		// "relayed" DSN to a sender who asked for SUCCESS.
		o.DSN = !res.NextHopDSN && notifies(it.Envelope, r.Recipient, NotifySuccess)
	case !res.Temporary:
		o.State = StateFailed
		o.DSN = notifies(it.Envelope, r.Recipient, NotifyFailure)
	case now.Sub(it.Queued) >= s.opt.Lifetime:
		o.State = StateExpired
		o.DSN = notifies(it.Envelope, r.Recipient, NotifyFailure)
	default:
		o.State = StateQueued
	}
	return o
}

// record reports outcomes durably and applies them to the in-memory item.
// The caller serialises calls.
func (s *Scheduler) record(ctx context.Context, it *Item, outs []Outcome, log *slog.Logger) {
	for _, o := range outs {
		log.Info("delivery", slog.String("rcpt", o.Addr), slog.String("state", string(o.State)),
			slog.String("relay", o.RemoteMTA), slog.String("reply", o.Reply.String()), slog.Bool("dsn", o.DSN))
	}
	rctx := ctx
	if ctx.Err() != nil {
		// The transaction ended before the abort: its outcome must still be recorded.
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
		defer cancel()
	}
	if err := s.q.Report(rctx, it.ID, outs); err != nil {
		log.Error("report outcomes", slog.Any("err", err))
		return
	}
	for _, o := range outs {
		i := slices.IndexFunc(it.Recipients, func(r RecipientStatus) bool { return r.Addr == o.Addr })
		if i < 0 || it.Recipients[i].State.Final() {
			continue
		}
		r := &it.Recipients[i]
		r.State, r.LastReply, r.RemoteMTA, r.LastAttempt, r.DSNPending = o.State, o.Reply, o.RemoteMTA, o.At, o.DSN
		r.Attempts++
	}
}

// groupByDomain groups recipients by ASCII destination domain; recipients whose domain
// cannot be parsed are returned apart.
func groupByDomain(rcpts []RecipientStatus) (map[string][]RecipientStatus, []RecipientStatus) {
	groups := make(map[string][]RecipientStatus)
	var bad []RecipientStatus
	for _, r := range rcpts {
		at := strings.LastIndexByte(r.Addr, '@')
		if at < 0 {
			bad = append(bad, r)
			continue
		}
		d, err := mail.ParseDomain(r.Addr[at+1:])
		if err != nil {
			bad = append(bad, r)
			continue
		}
		groups[d] = append(groups[d], r)
	}
	return groups, bad
}
