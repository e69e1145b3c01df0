package app

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"mailgrid/internal/contacts"
	"mailgrid/internal/fetch"
	"mailgrid/internal/schedule"
	"mailgrid/internal/store"
)

// What an account and a domain leave in the stores beside the directory and the mail
// shards, and how their deletion reaches them. Each store is opened at its first use
// and kept until System.Close (purgeHandles): the CLI deletes without a running server,
// and a server's own handles see the rows gone (SQLite and PostgreSQL share the data
// between processes and nodes).
//
//	store                account deletion (AccountPurgers)      domain purge (DomainPurgers)
//	filter state         filter.AccountDeleter                   filter.DomainDeleter (domains_purge_state.go)
//	address books        contacts.Store.DeleteAccount            contacts.Store.DeleteDomain
//	scheduled sends      schedule.Store.DeleteOwner              schedule.Store.DeleteDomain
//	external accounts    fetch.Store.DeleteOwner                 fetch.Store.DeleteDomain
//
// The directory's own rows go with the account's or the domain's row: web sessions, API
// tokens, TOTP secrets and the SMS rule by ON DELETE CASCADE; the SMS counters stay for
// a deleted account (the domain's statistics, by an account ID never reused) and go with
// a purged domain (directory DeleteDomain).

// purgeAccountState is the admin service's account purger: every store is tried, and
// the failures are reported together.
func (s *System) purgeAccountState(ctx context.Context, acct store.AccountRef) error {
	return errors.Join(
		s.withFilterState(ctx, func(db filterState) error { return db.DeleteAccount(ctx, acct) }),
		s.withContactsStore(ctx, func(cs contacts.Store) error { return cs.DeleteAccount(ctx, acct.Domain, acct.ID) }),
		s.withScheduleStore(func(st schedule.Store) error {
			_, err := st.DeleteOwner(ctx, schedule.Owner{Domain: acct.Domain, Account: acct.ID})
			return err
		}),
		s.withFetchStore(ctx, func(st fetch.Store) error {
			_, err := st.DeleteOwner(ctx, acct)
			return err
		}),
	)
}

// purgeDomainStores is the admin service's domain purger for the address books, the
// scheduled sends and the external accounts (the filter state and DKIM keys are
// purgeDomainState's).
func (s *System) purgeDomainStores(ctx context.Context, domain string) error {
	return errors.Join(
		s.withContactsStore(ctx, func(cs contacts.Store) error { return cs.DeleteDomain(ctx, domain) }),
		s.withScheduleStore(func(st schedule.Store) error {
			_, err := st.DeleteDomain(ctx, domain)
			return err
		}),
		s.withFetchStore(ctx, func(st fetch.Store) error {
			_, err := st.DeleteDomain(ctx, domain)
			return err
		}),
	)
}

// purgeHandles are the stores the purgers opened, kept open until System.Close so that
// deleting many accounts (a cluster's pools, SQLite's opening checks) opens each once.
type purgeHandles struct {
	mu       sync.Mutex
	filter   filterState
	contacts contacts.Store
	sched    schedule.Store
	fetch    fetch.Store
}

// close closes the handles opened so far.
func (h *purgeHandles) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, c := range []interface{ Close() error }{h.filter, h.contacts, h.sched, h.fetch} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	h.filter, h.contacts, h.sched, h.fetch = nil, nil, nil, nil
	return errors.Join(errs...)
}

// handle returns *slot, opening it first when it is not open yet.
func handle[T any](h *purgeHandles, slot *T, isOpen func(T) bool, open func() (T, error)) (T, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if isOpen(*slot) {
		return *slot, nil
	}
	v, err := open()
	if err != nil {
		return v, err
	}
	*slot = v
	return v, nil
}

func (s *System) withFilterState(ctx context.Context, fn func(filterState) error) error {
	db, err := handle(&s.purge, &s.purge.filter, func(v filterState) bool { return v != nil },
		func() (filterState, error) { return s.openFilterState(ctx) })
	if err == nil {
		err = fn(db)
	}
	if err != nil {
		return fmt.Errorf("filter state: %w", err)
	}
	return nil
}

func (s *System) withContactsStore(ctx context.Context, fn func(contacts.Store) error) error {
	cs, err := handle(&s.purge, &s.purge.contacts, func(v contacts.Store) bool { return v != nil },
		func() (contacts.Store, error) { return s.openContacts(ctx) })
	if err == nil {
		err = fn(cs)
	}
	if err != nil {
		return fmt.Errorf("address books: %w", err)
	}
	return nil
}

func (s *System) withScheduleStore(fn func(schedule.Store) error) error {
	st, err := handle(&s.purge, &s.purge.sched, func(v schedule.Store) bool { return v != nil }, s.openSchedule)
	if err == nil {
		err = fn(st)
	}
	if err != nil {
		return fmt.Errorf("scheduled sends: %w", err)
	}
	return nil
}

func (s *System) withFetchStore(ctx context.Context, fn func(fetch.Store) error) error {
	st, err := handle(&s.purge, &s.purge.fetch, func(v fetch.Store) bool { return v != nil },
		func() (fetch.Store, error) { return s.openFetch(ctx) })
	if err == nil {
		err = fn(st)
	}
	if err != nil {
		return fmt.Errorf("external accounts: %w", err)
	}
	return nil
}
