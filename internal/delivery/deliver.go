package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Deliver puts a copy of body (the message as received, trace headers included) in place
// for every recipient of env: local mailboxes get it with Return-Path prepended (RFC 5321
// 4.4), remote recipients get it through the queue, both after the filter chains had
// their say (see the package doc). It returns one Result per recipient.
//
// The error is non-nil (a temporary *Error, 451 4.3.0) when an infrastructure fault struck.
// A fault while routing or filtering commits nothing; a fault while committing stops at
// once, and Result.Committed tells what was already durable. Per-recipient failures that
// are not faults (mailbox full since RCPT, user removed meanwhile, a filter's reject) are
// only in the results.
func (p *Pipeline) Deliver(ctx context.Context, env *Envelope, body store.Body) ([]Result, error) {
	msg := filter.NewMessage(body)
	fenv := p.filterEnvelope(env)
	data, err := p.runData(ctx, env, fenv, msg)
	if err != nil {
		return p.faultAll(env, err)
	}
	rp := returnPath(env.From)
	pl, fault := p.route(ctx, env, int64(len(rp))+msg.Size(), data, msg)
	if fault != nil {
		return pl.results, fault
	}
	if err := p.runLocal(ctx, env, fenv, pl, msg); err != nil {
		return p.faultAll(env, err)
	}
	remote, err := p.runRemote(ctx, env, fenv, pl, msg)
	if err != nil {
		return p.faultAll(env, err)
	}
	if e := p.commit(ctx, env, pl, rp, msg, remote); e != nil {
		return pl.results, e
	}
	return pl.results, p.afterCommit(ctx, env, pl)
}

// faultAll is the outcome of a fault before anything was committed.
func (p *Pipeline) faultAll(env *Envelope, err error) ([]Result, error) {
	e := Temporary(err)
	res := make([]Result, len(env.Recipients))
	for i, r := range env.Recipients {
		res[i] = Result{Rcpt: r, Err: e}
	}
	p.log.Error("delivery fault", "err", err)
	return res, e
}

// plan is the routing of one message: where each recipient's copies go.
type plan struct {
	results   []Result
	shards    []*shardPlan // in first-seen order, for reproducible commits
	remote    []remoteCopy
	holds     []holdReq     // copies to quarantine
	redirects []redirectReq // copies to send on after the commit
	replies   []replyReq    // messages the chains generated (auto-replies)
}

type shardPlan struct {
	name    string
	targets []*localCopy
}

type localCopy struct {
	acct  *directory.Account
	quota store.Quota
	rcpts []int // indexes into plan.results this copy serves
	// Set by the local stage: where the copy is filed (nil = INBOX only) and, when
	// its chain edited the header, its own view of the message.
	filings []filter.Filing
	data    filter.Fate // the DATA-stage filing decisions (Keep, Cancel, Files)
	msg     *filter.Message
	skip    bool // decided by a chain (rejected, dropped, held, discarded): not stored
	stored  bool
}

type remoteCopy struct {
	rcpt  queue.Recipient
	addr  mail.Address
	key   string
	rcpts []int
	skip  bool    // decided by the remote chain: not queued
	fwd   forward // who sends it and which alias forwards it (srs_alias.go)
}

// fail records a failure for recipient i (the first one wins).
func (pl *plan) fail(i int, e *Error) {
	if pl.results[i].Err == nil {
		pl.results[i].Err = e
	}
}

func (pl *plan) failAll(rcpts []int, e *Error) {
	for _, i := range rcpts {
		pl.fail(i, e)
	}
}

func (pl *plan) commitAll(rcpts []int) {
	for _, i := range rcpts {
		pl.results[i].Committed = true
	}
}

func (pl *plan) addLocal(i int, a *directory.Account, q store.Quota, fate *filter.Fate) {
	var sp *shardPlan
	for _, s := range pl.shards {
		if s.name == a.Shard {
			sp = s
		}
	}
	if sp == nil {
		sp = &shardPlan{name: a.Shard}
		pl.shards = append(pl.shards, sp)
	}
	for _, c := range sp.targets {
		if c.acct.ID == a.ID && c.acct.Address.Domain == a.Address.Domain {
			c.rcpts = append(c.rcpts, i) // one copy per mailbox
			return
		}
	}
	c := &localCopy{acct: a, quota: q, rcpts: []int{i}}
	if fate != nil {
		c.filings = fate.Filings()
		c.data = filter.Fate{Keep: fate.Keep, Cancel: fate.Cancel, Files: slices.Clone(fate.Files)}
	}
	sp.targets = append(sp.targets, c)
}

func (pl *plan) addRemote(i int, addr mail.Address, r Recipient, fwd forward) {
	key := addr.Key() + "\x00" + fwd.via.Key()
	for k := range pl.remote {
		if pl.remote[k].key == key {
			pl.remote[k].rcpts = append(pl.remote[k].rcpts, i)
			return
		}
	}
	orcpt := r.ORcpt
	if orcpt == "" && addr.Key() != r.Addr.Key() {
		orcpt = orcptOf(r.Addr) // RFC 3461 4.2: keep the original recipient across forwarding
	}
	qr := queue.Recipient{Addr: addr.String(), Notify: r.Notify, ORcpt: orcpt}
	pl.remote = append(pl.remote, remoteCopy{rcpt: qr, addr: addr, key: key, rcpts: []int{i}, fwd: fwd})
}

// route resolves every recipient the DATA-stage chain left to deliver (data is nil
// without a chain). The returned error is an infrastructure fault; then the plan must
// not be committed.
func (p *Pipeline) route(ctx context.Context, env *Envelope, size int64, data []*filter.Recipient, msg *filter.Message) (*plan, *Error) {
	pl := &plan{results: make([]Result, len(env.Recipients))}
	doms := domainCache{dir: p.dir}
	for i, r := range env.Recipients {
		pl.results[i].Rcpt = r
		var fate *filter.Fate
		if data != nil {
			fate = &data[i].Fate
			if done, e := p.applyDataFate(ctx, env, pl, i, fate, msg); done || e != nil {
				if e != nil {
					return pl, e
				}
				continue
			}
		}
		if e := p.routeOne(ctx, env, pl, &doms, i, size, fate, msg); e != nil {
			if isFault(e) {
				return pl, e
			}
			pl.fail(i, e)
		}
	}
	return pl, nil
}

func (p *Pipeline) routeOne(ctx context.Context, env *Envelope, pl *plan, doms *domainCache, i int, size int64, fate *filter.Fate, msg *filter.Message) *Error {
	r := env.Recipients[i]
	local, err := p.dir.IsLocalDomain(ctx, r.Addr.Domain)
	if err != nil {
		return Temporary(err)
	}
	if !local {
		if (env.Account == nil && !env.Internal) || p.queue == nil {
			return errRelayDenied()
		}
		if fate == nil || !fate.Cancel {
			pl.addRemote(i, r.Addr, r, forward{from: env.From})
		}
		return nil
	}
	targets, e := p.resolve(ctx, r.Addr)
	if e != nil {
		return e
	}
	var off *offsite // how the alias forwards off-site, on its first remote target
	for _, t := range targets {
		if t.Account == nil {
			if p.queue == nil {
				return Temporary(errors.New("alias forwards off-site but no queue is configured"))
			}
			if off == nil {
				if off, e = p.offsiteFor(ctx, env, r.Addr, msg); e != nil {
					return e // a fault
				}
			}
			if !off.loop && (fate == nil || !fate.Cancel) {
				pl.addRemote(i, t.Remote, r, off.fwd)
			}
			continue
		}
		q, e := p.checkAccount(ctx, doms, t.Account, size)
		if e != nil {
			if isFault(e) {
				return e
			}
			pl.fail(i, e) // other targets of an alias still get their copy
			continue
		}
		pl.addLocal(i, t.Account, q, fate)
	}
	return p.offsiteLoop(env, pl, i, off)
}

// commit holds quarantined copies, stores local copies shard by shard, then queues
// remote copies. rp is the Return-Path field local copies get; remote is the message
// the queue gets (as received, with the chains' edits).
func (p *Pipeline) commit(ctx context.Context, env *Envelope, pl *plan, rp []byte, msg *filter.Message, remote *filter.Message) *Error {
	if e := p.commitHolds(ctx, pl); e != nil {
		return e
	}
	for _, sp := range pl.shards {
		if e := p.commitShard(ctx, env, pl, sp, rp, msg); e != nil {
			return e
		}
	}
	for _, g := range remoteGroups(pl) {
		if e := p.enqueue(ctx, env, pl, g, remote); e != nil {
			return e
		}
	}
	return nil
}

// enqueue queues one group of remote copies: one queue item per sender and forwarding
// alias (srs_alias.go), the alias's copies with Delivered-To naming it.
func (p *Pipeline) enqueue(ctx context.Context, env *Envelope, pl *plan, g remoteGroup, remote *filter.Message) *Error {
	var rcpts []queue.Recipient
	for _, rc := range g.copies {
		rcpts = append(rcpts, rc.rcpt)
	}
	from := g.fwd.from
	qenv := queue.Envelope{From: from.String(), EnvID: env.EnvID, Ret: env.Ret, SMTPUTF8: env.SMTPUTF8 || !from.IsASCII() || !g.fwd.via.IsASCII()}
	if env.Account != nil {
		qenv.Sender = p.accountRef(env.Account)
	}
	body := remote.Body()
	if !g.fwd.via.IsZero() {
		body = Prepend(deliveredTo(g.fwd.via), body)
	}
	id, err := p.queue.Enqueue(ctx, qenv, rcpts, body)
	if err != nil {
		e := Temporary(err)
		for _, rc := range g.copies {
			pl.failAll(rc.rcpts, e)
		}
		return e
	}
	for _, rc := range g.copies {
		for _, i := range rc.rcpts {
			pl.results[i].Committed = true
			pl.results[i].QueueID = id
		}
	}
	p.log.Info("queued", "queue_id", id, "recipients", len(rcpts), "from", from.String(), "via", g.fwd.via.String())
	return nil
}

// pending is one mailbox copy waiting for store.Deliver.
type pending struct {
	c      *localCopy
	filing filter.Filing
}

// commitShard stores the copies of one shard: one store.Deliver for every copy that
// reads as the shared message, one more per copy whose local chain edited its header.
func (p *Pipeline) commitShard(ctx context.Context, env *Envelope, pl *plan, sp *shardPlan, rp []byte, msg *filter.Message) *Error {
	st, err := p.shards.Shard(sp.name)
	if err != nil {
		return p.faultShard(pl, sp.targets, Temporary(err))
	}
	p.resolveSpecialUse(ctx, st, sp) // specialuse.go: `\Junk` to the account's Junk
	var shared []pending
	for _, c := range sp.targets {
		if c.skip {
			continue
		}
		own := pendingOf(c)
		if c.msg == nil {
			shared = append(shared, own...)
			continue
		}
		if e := p.deliverGroup(ctx, st, env, pl, sp, own, Prepend(rp, c.msg.Body())); e != nil {
			return e
		}
	}
	if len(shared) == 0 {
		return nil
	}
	return p.deliverGroup(ctx, st, env, pl, sp, shared, Prepend(rp, msg.Body()))
}

func pendingOf(c *localCopy) []pending {
	fs := c.filings
	if len(fs) == 0 {
		fs = []filter.Filing{{}}
	}
	out := make([]pending, len(fs))
	for k, f := range fs {
		out[k] = pending{c: c, filing: f}
	}
	return out
}

// deliverGroup makes one store.Deliver call for copies that share body. Accounts unknown
// to the store (created in the directory, mailboxes not yet made) are set up with
// EnsureAccount and retried once. A copy with several filings is committed when any of
// them is stored.
func (p *Pipeline) deliverGroup(ctx context.Context, st store.Store, env *Envelope, pl *plan, sp *shardPlan, group []pending, body store.Body) *Error {
	for attempt := 0; len(group) > 0; attempt++ {
		res, err := st.Deliver(ctx, store.Delivery{Body: body, InternalDate: env.Received, Targets: deliveryTargets(p, group)})
		if err == nil && len(res) != len(group) {
			err = fmt.Errorf("store returned %d results for %d targets", len(res), len(group))
		}
		if err != nil {
			return p.faultShard(pl, copiesOf(group), Temporary(err))
		}
		var missing []pending
		failed := map[*localCopy]*Error{}
		for k, r := range res {
			c := group[k].c
			switch {
			case r.Err == nil:
				c.stored = true
				pl.commitAll(c.rcpts)
				p.log.Info("delivered", "account", c.acct.Address.String(), "shard", sp.name, "mailbox", r.Mailbox, "uid", r.UID)
			case errors.Is(r.Err, store.ErrNotFound) && attempt == 0:
				if e := p.placedOn(ctx, c.acct, sp.name); e != nil {
					failed[c] = e
					continue
				}
				if err := st.EnsureAccount(ctx, p.accountRef(c.acct)); err != nil {
					return p.faultShard(pl, copiesOf(group[k:]), Temporary(err))
				}
				missing = append(missing, group[k])
			default:
				failed[c] = targetError(r.Err, c.quota, body.Size())
			}
		}
		for c, e := range failed {
			if !c.stored {
				pl.failAll(c.rcpts, e)
			}
		}
		group = missing
	}
	return nil
}

func copiesOf(group []pending) []*localCopy {
	var out []*localCopy
	for _, g := range group {
		if len(out) == 0 || out[len(out)-1] != g.c {
			out = append(out, g.c)
		}
	}
	return out
}

func (p *Pipeline) faultShard(pl *plan, targets []*localCopy, e *Error) *Error {
	for _, c := range targets {
		pl.failAll(c.rcpts, e)
	}
	p.log.Error("delivery fault", "err", e.Err)
	return e
}

func deliveryTargets(p *Pipeline, group []pending) []store.DeliveryTarget {
	ts := make([]store.DeliveryTarget, len(group))
	for k, g := range group {
		ts[k] = store.DeliveryTarget{Account: p.accountRef(g.c.acct), Quota: g.c.quota, Mailbox: g.filing.Mailbox, Flags: g.filing.Flags}
	}
	return ts
}

// targetError maps a per-target store error to its reply.
func targetError(err error, q store.Quota, size int64) *Error {
	if errors.Is(err, store.ErrOverQuota) {
		if q.Bytes > 0 && size > q.Bytes {
			return errQuotaTooSmall()
		}
		return errMailboxFull()
	}
	return Temporary(err)
}

// isFault reports whether e is an infrastructure fault (as opposed to a verdict).
func isFault(e *Error) bool { return e.Code == 451 && e.Enhanced == [3]int{4, 3, 0} }

// returnPath is the Return-Path header of final delivery (RFC 5321 4.4, RFC 5322 3.6.7).
func returnPath(from mail.Address) []byte {
	return []byte("Return-Path: <" + from.String() + ">\r\n")
}

// orcptOf formats an RFC 3461 4.2 ORCPT value (RFC 6533 utf-8 type for UTF-8 addresses).
func orcptOf(a mail.Address) string {
	if a.IsASCII() {
		return "rfc822;" + a.String()
	}
	return "utf-8;" + a.String()
}

// Outcome folds Deliver's results into the single reply of an SMTP DATA (RFC 5321 4.1.1.4)
// and the recipients that need a failure DSN. reply nil means 250. See the package doc for
// the policy: nothing committed → the failure is the reply (a temporary one wins, so the
// client retries); something committed → 250 and a DSN for the failures.
func Outcome(results []Result, err error) (reply *Error, bounce []Result) {
	if err != nil {
		return AsError(err), nil
	}
	committed := false
	var failed []Result
	for _, r := range results {
		committed = committed || r.Committed
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return nil, nil
	}
	if committed {
		return nil, failed
	}
	reply = failed[0].Err
	for _, r := range failed {
		if r.Err.Temporary {
			return r.Err, nil
		}
	}
	return reply, nil
}
