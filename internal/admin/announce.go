package admin

// Ending the sessions of a deleted or disabled account. Once the directory row changed
// (no new login can succeed), the service announces store.AccountDeleted or
// store.AccountDisabled on the account's shard (store.Announcer): the shard's
// notifications carry it to every node's bus, whose IMAP and POP3 sessions of the
// account end at once (imapserver and pop3server, ended.go). A domain deleted or
// disabled announces it for each of its accounts. Web sessions are rows of the
// directory and end with it (RevokeSessions, the row's deletion).
//
// The announcement goes before the store deletes the account's mail, so a session
// ends saying why (the account was deleted), not that its mailbox vanished.

import (
	"context"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// announce publishes kind for every account of accts, one announcement per shard. A
// shard whose store cannot announce is skipped (its sessions end at their next check of
// the directory); failures are reported together.
func (s *Service) announce(ctx context.Context, kind store.ChangeKind, accts ...directory.Account) error {
	byShard := map[string][]store.Change{}
	var order []string
	for _, a := range accts {
		if _, ok := byShard[a.Shard]; !ok {
			order = append(order, a.Shard)
		}
		byShard[a.Shard] = append(byShard[a.Shard], store.Change{Kind: kind, Account: Ref(a)})
	}
	var errs []error
	for _, shard := range order {
		st, err := s.Shards.Shard(shard)
		if err != nil {
			errs = append(errs, fmt.Errorf("shard %q: %w", shard, err))
			continue
		}
		an, ok := st.(store.Announcer)
		if !ok {
			continue
		}
		if err := an.Announce(ctx, byShard[shard]...); err != nil {
			errs = append(errs, fmt.Errorf("shard %q: %w", shard, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ending the open sessions: %w", err)
	}
	return nil
}

// announceDomain announces kind for every account of a domain.
func (s *Service) announceDomain(ctx context.Context, kind store.ChangeKind, domain string) error {
	accts, err := s.Dir.Accounts(ctx, domain)
	if err != nil {
		return fmt.Errorf("ending the open sessions: %w", err)
	}
	return s.announce(ctx, kind, accts...)
}
