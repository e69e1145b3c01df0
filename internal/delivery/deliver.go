package delivery

import (
	"context"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Deliver puts a copy of body (the message as received, trace headers included) in place
// for every recipient of env: local mailboxes get it with Return-Path prepended (RFC 5321
// 4.4), remote recipients get it through the queue. It returns one Result per recipient.
//
// The error is non-nil (a temporary *Error, 451 4.3.0) when an infrastructure fault struck.
// A fault while routing commits nothing; a fault while committing stops at once, and
// Result.Committed tells what was already durable. Per-recipient failures that are not
// faults (mailbox full since RCPT, user removed meanwhile) are only in the results.
func (p *Pipeline) Deliver(ctx context.Context, env *Envelope, body store.Body) ([]Result, error) {
	rp := returnPath(env.From)
	pl, fault := p.route(ctx, env, int64(len(rp))+body.Size())
	if fault != nil {
		return pl.results, fault
	}
	// The filter chain (package filter) slots in here: it sees the accepted envelope and
	// the plan, and may drop, redirect or file copies before anything is committed.
	return p.commit(ctx, env, pl, Prepend(rp, body), body)
}

// plan is the routing of one message: where each recipient's copies go.
type plan struct {
	results []Result
	shards  []*shardPlan // in first-seen order, for reproducible commits
	remote  []remoteCopy
}

type shardPlan struct {
	name    string
	targets []localCopy
}

type localCopy struct {
	acct  *directory.Account
	quota store.Quota
	rcpts []int // indexes into plan.results this copy serves
}

type remoteCopy struct {
	rcpt  queue.Recipient
	key   string
	rcpts []int
}

// fail records a failure for recipient i (the first one wins).
func (pl *plan) fail(i int, e *Error) {
	if pl.results[i].Err == nil {
		pl.results[i].Err = e
	}
}

func (pl *plan) addLocal(i int, a *directory.Account, q store.Quota) {
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
	for k := range sp.targets {
		if sp.targets[k].acct.ID == a.ID && sp.targets[k].acct.Address.Domain == a.Address.Domain {
			sp.targets[k].rcpts = append(sp.targets[k].rcpts, i) // one copy per mailbox
			return
		}
	}
	sp.targets = append(sp.targets, localCopy{acct: a, quota: q, rcpts: []int{i}})
}

func (pl *plan) addRemote(i int, addr mail.Address, r Recipient) {
	key := addr.Key()
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
	pl.remote = append(pl.remote, remoteCopy{rcpt: qr, key: key, rcpts: []int{i}})
}

// route resolves every recipient. The returned error is an infrastructure fault; then the
// plan must not be committed.
func (p *Pipeline) route(ctx context.Context, env *Envelope, size int64) (*plan, *Error) {
	pl := &plan{results: make([]Result, len(env.Recipients))}
	doms := domainCache{dir: p.dir}
	for i, r := range env.Recipients {
		pl.results[i].Rcpt = r
		if e := p.routeOne(ctx, env, pl, &doms, i, size); e != nil {
			if isFault(e) {
				return pl, e
			}
			pl.fail(i, e)
		}
	}
	return pl, nil
}

func (p *Pipeline) routeOne(ctx context.Context, env *Envelope, pl *plan, doms *domainCache, i int, size int64) *Error {
	r := env.Recipients[i]
	local, err := p.dir.IsLocalDomain(ctx, r.Addr.Domain)
	if err != nil {
		return Temporary(err)
	}
	if !local {
		if (env.Account == nil && !env.Internal) || p.queue == nil {
			return errRelayDenied()
		}
		pl.addRemote(i, r.Addr, r)
		return nil
	}
	targets, e := p.resolve(ctx, r.Addr)
	if e != nil {
		return e
	}
	for _, t := range targets {
		if t.Account == nil {
			if p.queue == nil {
				return Temporary(errors.New("alias forwards off-site but no queue is configured"))
			}
			pl.addRemote(i, t.Remote, r)
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
		pl.addLocal(i, t.Account, q)
	}
	return nil
}

// commit stores local copies shard by shard, then queues remote copies. local is the body
// with Return-Path; remote is the body as received.
func (p *Pipeline) commit(ctx context.Context, env *Envelope, pl *plan, local, remote store.Body) ([]Result, error) {
	for _, sp := range pl.shards {
		if e := p.commitShard(ctx, env, pl, sp, local); e != nil {
			return pl.results, e
		}
	}
	if len(pl.remote) == 0 {
		return pl.results, nil
	}
	rcpts := make([]queue.Recipient, len(pl.remote))
	for k, rc := range pl.remote {
		rcpts[k] = rc.rcpt
	}
	qenv := queue.Envelope{From: env.From.String(), EnvID: env.EnvID, Ret: env.Ret, SMTPUTF8: env.SMTPUTF8 || !env.From.IsASCII()}
	if env.Account != nil {
		qenv.Sender = p.accountRef(env.Account)
	}
	id, err := p.queue.Enqueue(ctx, qenv, rcpts, remote)
	if err != nil {
		e := Temporary(err)
		for _, rc := range pl.remote {
			for _, i := range rc.rcpts {
				pl.fail(i, e)
			}
		}
		return pl.results, e
	}
	for _, rc := range pl.remote {
		for _, i := range rc.rcpts {
			pl.results[i].Committed = true
			pl.results[i].QueueID = id
		}
	}
	p.log.Info("queued", "queue_id", id, "recipients", len(rcpts))
	return pl.results, nil
}

// commitShard makes the one store.Deliver call of a shard. Accounts unknown to the store
// (created in the directory, mailboxes not yet made) are set up with EnsureAccount and
// retried once.
func (p *Pipeline) commitShard(ctx context.Context, env *Envelope, pl *plan, sp *shardPlan, body store.Body) *Error {
	st, err := p.shards.Shard(sp.name)
	if err != nil {
		return p.faultShard(pl, sp.targets, Temporary(err))
	}
	pending := sp.targets
	for attempt := 0; len(pending) > 0; attempt++ {
		res, err := st.Deliver(ctx, store.Delivery{Body: body, InternalDate: env.Received, Targets: deliveryTargets(p, pending)})
		if err == nil && len(res) != len(pending) {
			err = fmt.Errorf("store returned %d results for %d targets", len(res), len(pending))
		}
		if err != nil {
			return p.faultShard(pl, pending, Temporary(err))
		}
		var missing []localCopy
		for k, r := range res {
			c := pending[k]
			switch {
			case r.Err == nil:
				for _, i := range c.rcpts {
					pl.results[i].Committed = true
				}
				p.log.Info("delivered", "account", c.acct.Address.String(), "shard", sp.name, "mailbox", r.Mailbox, "uid", r.UID)
			case errors.Is(r.Err, store.ErrNotFound) && attempt == 0:
				if err := st.EnsureAccount(ctx, p.accountRef(c.acct)); err != nil {
					return p.faultShard(pl, pending[k:], Temporary(err))
				}
				missing = append(missing, c)
			default:
				e := targetError(r.Err, c.quota, body.Size())
				for _, i := range c.rcpts {
					pl.fail(i, e)
				}
			}
		}
		pending = missing
	}
	return nil
}

func (p *Pipeline) faultShard(pl *plan, targets []localCopy, e *Error) *Error {
	for _, c := range targets {
		for _, i := range c.rcpts {
			pl.fail(i, e)
		}
	}
	p.log.Error("delivery fault", "err", e.Err)
	return e
}

func deliveryTargets(p *Pipeline, cs []localCopy) []store.DeliveryTarget {
	ts := make([]store.DeliveryTarget, len(cs))
	for k, c := range cs {
		ts[k] = store.DeliveryTarget{Account: p.accountRef(c.acct), Quota: c.quota}
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
