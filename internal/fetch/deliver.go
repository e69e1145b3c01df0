package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// StoreDeliverer stores fetched mail through the store of the owner's shard with the
// owner's quota (delivery.Quota), as final delivery does, but without the filter chain.
type StoreDeliverer struct {
	Dir    directory.Directory
	Shards store.Shards
	Now    func() time.Time
}

// CheckOwner implements OwnerChecker: ErrOwnerGone when the directory no longer has the
// owner (directory.ErrNotFound: the account, or its purged domain, was deleted).
func (d StoreDeliverer) CheckOwner(ctx context.Context, owner store.AccountRef) error {
	_, err := d.owner(ctx, owner)
	return err
}

func (d StoreDeliverer) owner(ctx context.Context, owner store.AccountRef) (directory.Account, error) {
	acct, err := d.Dir.AccountByID(ctx, owner.Domain, owner.ID)
	if errors.Is(err, directory.ErrNotFound) {
		return acct, fmt.Errorf("%w (%s #%d)", ErrOwnerGone, owner.Domain, owner.ID)
	}
	if err != nil {
		return acct, fmt.Errorf("fetch: the local account: %w", err)
	}
	return acct, nil
}

// Deliver implements Deliverer. A missing folder falls back to INBOX (store.DeliveryTarget).
func (d StoreDeliverer) Deliver(ctx context.Context, owner store.AccountRef, folder string, body []byte) error {
	acct, err := d.owner(ctx, owner)
	if err != nil {
		return err
	}
	dom, err := d.Dir.Domain(ctx, owner.Domain)
	if err != nil {
		return fmt.Errorf("fetch: the local domain: %w", err)
	}
	st, err := d.Shards.Shard(acct.Shard)
	if err != nil {
		return fmt.Errorf("fetch: the local store: %w", err)
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	dl := store.Delivery{Body: bytes.NewReader(body), InternalDate: now(), Targets: []store.DeliveryTarget{{
		Account: owner, Quota: delivery.Quota(acct, dom), Mailbox: folder,
	}}}
	res, err := st.Deliver(ctx, dl)
	if err == nil && len(res) == 1 && errors.Is(res[0].Err, store.ErrNotFound) {
		// The account has no mailboxes yet (never logged in).
		if err = st.EnsureAccount(ctx, owner); err == nil {
			res, err = st.Deliver(ctx, dl)
		}
	}
	if err == nil && len(res) != 1 {
		err = fmt.Errorf("store returned %d results for 1 target", len(res))
	}
	if err != nil {
		return fmt.Errorf("fetch: store: %w", err)
	}
	if errors.Is(res[0].Err, store.ErrOverQuota) {
		return ErrMailboxFull
	}
	if res[0].Err != nil {
		return fmt.Errorf("fetch: store: %w", res[0].Err)
	}
	return nil
}
