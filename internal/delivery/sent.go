package delivery

import (
	"context"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// SaveSent stores a copy of a submitted message in the sender's Sent mailbox (the mailbox
// with the \Sent special use, RFC 6154), flagged \Seen, in one durable commit. The body is
// the message as submitted, without trace headers. A full mailbox is reported as 452 4.2.2
// (the caller decides whether that blocks the submission); faults are 451 4.3.0.
func (p *Pipeline) SaveSent(ctx context.Context, acct directory.Account, body store.Body) error {
	dom, err := p.dir.Domain(ctx, acct.Address.Domain)
	if err != nil {
		return Temporary(err)
	}
	st, err := p.shards.Shard(acct.Shard)
	if err != nil {
		return Temporary(err)
	}
	ref := p.accountRef(&acct)
	name, err := sentMailbox(ctx, st, ref)
	if errors.Is(err, store.ErrNotFound) {
		if e := p.placedOn(ctx, &acct, acct.Shard); e != nil { // moved since the login
			return e
		}
		if err = st.EnsureAccount(ctx, ref); err == nil {
			name, err = sentMailbox(ctx, st, ref)
		}
	}
	if err != nil {
		return Temporary(err)
	}
	q := Quota(acct, dom)
	d := store.Delivery{Body: body, InternalDate: p.now(), Targets: []store.DeliveryTarget{{
		Account: ref, Quota: q, Mailbox: name, Flags: []string{store.FlagSeen},
	}}}
	res, err := st.Deliver(ctx, d)
	if err == nil && len(res) != 1 {
		err = fmt.Errorf("store returned %d results for 1 target", len(res))
	}
	if err != nil {
		return Temporary(err)
	}
	if res[0].Err != nil {
		return targetError(res[0].Err, q, body.Size())
	}
	return nil
}

// sentMailbox finds the account's \Sent mailbox; "Sent" when none has the role.
func sentMailbox(ctx context.Context, st store.Store, ref store.AccountRef) (string, error) {
	mbs, err := st.Mailboxes(ctx, ref)
	if err != nil {
		return "", err
	}
	if len(mbs) == 0 {
		return "", store.ErrNotFound
	}
	for _, mb := range mbs {
		if mb.SpecialUse == store.Sent {
			return mb.Name, nil
		}
	}
	return "Sent", nil
}
