package app

import (
	"context"
	"errors"
	"fmt"

	"mailgrid/internal/contacts"
	"mailgrid/internal/fetch"
	"mailgrid/internal/filter"
	"mailgrid/internal/schedule"
	"mailgrid/internal/store"
)

// What an account and a domain leave in the stores beside the directory and the mail
// shards, and how their deletion reaches them. Each store is opened for the call and
// closed after it, as purgeDomainState does: the CLI deletes without a running server,
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
		s.withFilterState(ctx, func(db filterState) error {
			ad, ok := db.(filter.AccountDeleter)
			if !ok {
				return fmt.Errorf("%T cannot delete an account", db)
			}
			return ad.DeleteAccount(ctx, acct)
		}),
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

func (s *System) withFilterState(ctx context.Context, fn func(filterState) error) error {
	db, err := s.openFilterState(ctx)
	if err != nil {
		return fmt.Errorf("filter state: %w", err)
	}
	if err := errors.Join(fn(db), db.Close()); err != nil {
		return fmt.Errorf("filter state: %w", err)
	}
	return nil
}

func (s *System) withContactsStore(ctx context.Context, fn func(contacts.Store) error) error {
	cs, err := s.openContacts(ctx)
	if err != nil {
		return fmt.Errorf("address books: %w", err)
	}
	if err := errors.Join(fn(cs), cs.Close()); err != nil {
		return fmt.Errorf("address books: %w", err)
	}
	return nil
}

func (s *System) withScheduleStore(fn func(schedule.Store) error) error {
	st, err := s.openSchedule()
	if err != nil {
		return fmt.Errorf("scheduled sends: %w", err)
	}
	if err := errors.Join(fn(st), st.Close()); err != nil {
		return fmt.Errorf("scheduled sends: %w", err)
	}
	return nil
}

func (s *System) withFetchStore(ctx context.Context, fn func(fetch.Store) error) error {
	st, err := s.openFetch(ctx)
	if err != nil {
		return fmt.Errorf("external accounts: %w", err)
	}
	if err := errors.Join(fn(st), st.Close()); err != nil {
		return fmt.Errorf("external accounts: %w", err)
	}
	return nil
}
