package delivery

import (
	"context"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// CheckSender vets MAIL FROM. For an authenticated submitter the reverse-path must be an
// address the account may send as (directory.SendAs: its own, a sub-address, an alias that
// targets it; RFC 6409 6.1 lets the MSA enforce this) — else 550 5.7.1. The null sender
// is allowed (auto-replies). The sender's domain MaxMessageBytes bounds the SIZE= hint
// (RFC 1870 6.1: 552 5.3.4). Then the MAIL-stage filter chain runs (envelope.go).
func (p *Pipeline) CheckSender(ctx context.Context, env *Envelope) error {
	if env.Account == nil {
		return p.checkMailStage(ctx, env) // envelope.go: the MAIL-stage chain
	}
	if !env.From.IsZero() {
		if err := p.CheckSendAs(ctx, *env.Account, env.From); err != nil {
			return err
		}
	}
	dom, err := p.dir.Domain(ctx, env.Account.Address.Domain)
	if err != nil {
		return Temporary(err)
	}
	if dom.MaxMessageBytes > 0 && env.Size > dom.MaxMessageBytes {
		return errTooBig()
	}
	return p.checkMailStage(ctx, env)
}

// CheckSendAs reports (as 550 5.7.1) whether acct may not use from as a sender, in the
// envelope or in the From: header.
func (p *Pipeline) CheckSendAs(ctx context.Context, acct directory.Account, from mail.Address) error {
	ok, err := p.dir.SendAs(ctx, acct, from)
	if err != nil {
		return Temporary(err)
	}
	if !ok {
		return errSendAs()
	}
	return nil
}

// CheckRecipient vets one RCPT TO (RFC 5321 4.1.1.3). Local domain: the recipient must
// resolve (550 5.1.1), its accounts be enabled (550 5.2.1) and able to take env.Size more
// bytes (452 4.2.2 / 552 5.2.2); the domain's MaxMessageBytes bounds env.Size (552 5.3.4).
// Remote domain: allowed only for an authenticated or internal envelope and when a queue is
// configured (else 554 5.7.1, RFC 5321 3.6.2 — no open relay). Directory and store faults
// are 451 4.3.0. Then the RCPT-stage filter chain runs (envelope.go).
func (p *Pipeline) CheckRecipient(ctx context.Context, env *Envelope, rcpt mail.Address) error {
	local, err := p.dir.IsLocalDomain(ctx, rcpt.Domain)
	if err != nil {
		return Temporary(err)
	}
	if !local {
		if (env.Account == nil && !env.Internal) || p.queue == nil {
			return errRelayDenied()
		}
		return p.checkRcptStage(ctx, env, rcpt) // envelope.go: the RCPT-stage chain
	}
	dom, err := p.dir.Domain(ctx, rcpt.Domain)
	if err != nil {
		return Temporary(err)
	}
	if dom.MaxMessageBytes > 0 && env.Size > dom.MaxMessageBytes {
		return errTooBig()
	}
	targets, rerr := p.resolve(ctx, rcpt)
	if rerr != nil {
		return rerr
	}
	doms := domainCache{dir: p.dir, m: map[string]directory.Domain{dom.Name: dom}}
	for _, t := range targets {
		if t.Account == nil {
			continue // forward off-site: queued; the queue owns its fate
		}
		if _, err := p.checkAccount(ctx, &doms, t.Account, env.Size); err != nil {
			return err
		}
	}
	return p.checkRcptStage(ctx, env, rcpt)
}

// resolve maps a local recipient to its targets with the SMTP error for each failure.
func (p *Pipeline) resolve(ctx context.Context, rcpt mail.Address) ([]directory.Target, *Error) {
	if t, ok, e := p.srsTarget(rcpt); ok { // srs.go: a bounce to a rewritten sender
		return t, e
	}
	targets, err := p.dir.Resolve(ctx, rcpt)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return nil, errUnknownUser()
	case errors.Is(err, directory.ErrDomainDeleted): // RFC 3463 3.2 X.1.2: bad destination system
		return nil, newError(550, [3]int{5, 1, 2}, "domain does not accept mail", nil)
	case errors.Is(err, directory.ErrDisabled):
		return nil, errDisabled()
	case err != nil:
		return nil, Temporary(err)
	case len(targets) == 0:
		return nil, errUnknownUser()
	}
	return targets, nil
}

// checkAccount checks one local target for a message of size bytes (0 = unknown) and
// returns the quota to hand to the store.
func (p *Pipeline) checkAccount(ctx context.Context, doms *domainCache, a *directory.Account, size int64) (store.Quota, *Error) {
	if !a.Enabled {
		return store.Quota{}, errDisabled()
	}
	dom, err := doms.get(ctx, a.Address.Domain)
	if err != nil {
		return store.Quota{}, Temporary(err)
	}
	if !dom.Enabled {
		return store.Quota{}, errDisabled()
	}
	if dom.MaxMessageBytes > 0 && size > dom.MaxMessageBytes {
		return store.Quota{}, errTooBig()
	}
	q := Quota(*a, dom)
	if q.Bytes == 0 && q.Messages == 0 {
		return q, nil
	}
	st, err := p.shards.Shard(a.Shard)
	if err != nil {
		return q, Temporary(err)
	}
	u, err := st.Usage(ctx, p.accountRef(a))
	if err != nil && !errors.Is(err, store.ErrNotFound) { // not in the store yet: empty
		return q, Temporary(err)
	}
	return q, quotaVerdict(q, u, size)
}

// quotaVerdict applies RFC 5321 4.5.3.1.10 and RFC 3463 to a quota: already full → 452
// 4.2.2; size alone over the whole quota → 552 5.2.2 (retrying cannot help); usage+size
// over → 452 4.2.2 (the mailbox may drain).
func quotaVerdict(q store.Quota, u store.Usage, size int64) *Error {
	if (q.Messages > 0 && u.Messages >= q.Messages) || (q.Bytes > 0 && u.Bytes >= q.Bytes) {
		return errMailboxFull()
	}
	if q.Bytes > 0 && size > q.Bytes {
		return errQuotaTooSmall()
	}
	if q.Bytes > 0 && u.Bytes+size > q.Bytes {
		return errMailboxFull()
	}
	return nil
}

// Quota is the effective quota of an account: its own, else its domain's MaxQuotaBytes
// (directory.NewAccount: 0 means the domain's default); zero fields are unlimited.
func Quota(a directory.Account, d directory.Domain) store.Quota {
	q := store.Quota{Bytes: a.QuotaBytes, Messages: a.QuotaMessages}
	if q.Bytes == 0 {
		q.Bytes = d.MaxQuotaBytes
	}
	return q
}

// domainCache memoises directory.Domain within one call.
type domainCache struct {
	dir directory.Directory
	m   map[string]directory.Domain
}

func (c *domainCache) get(ctx context.Context, name string) (directory.Domain, error) {
	if d, ok := c.m[name]; ok {
		return d, nil
	}
	d, err := c.dir.Domain(ctx, name)
	if err != nil {
		return d, err
	}
	if c.m == nil {
		c.m = map[string]directory.Domain{}
	}
	c.m[name] = d
	return d, nil
}

// placedOn checks, before a store that does not know an account is told to create it,
// that the account still lives on shard: a user move (package cluster) may have switched
// its placement while this delivery waited on the old shard's write fence, and the old
// shard then dropped it. A moved account answers 451 (the client's retry resolves the new
// shard) instead of being recreated on the shard it left.
func (p *Pipeline) placedOn(ctx context.Context, a *directory.Account, shard string) *Error {
	cur, err := p.dir.AccountByID(ctx, a.Address.Domain, a.ID)
	if err != nil {
		return Temporary(err)
	}
	if cur.Shard != shard {
		return Temporary(fmt.Errorf("account %s moved from shard %q to %q", a.Address, shard, cur.Shard))
	}
	return nil
}
