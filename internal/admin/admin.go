// Package admin is the administration service layer: the operations an operator performs
// on domains, accounts and aliases, each keeping the directory and the mail store in step.
// The CLI calls it now; the JSON API and the admin console call the same functions later,
// so a rule (a limit, an order of steps) is written once.
//
// Order of steps, chosen so that a crash between them never leaves mail unreachable:
//   - adding an account creates the directory entry, then the store's default mailboxes;
//     EnsureAccount is idempotent and delivery calls it too, so a crash in between only
//     delays mailbox creation to the first delivery or the next `user add`.
//   - deleting an account removes the directory entry first (no new deliveries, no logins,
//     no scheduled sends, no fetches), then the mail, then its state elsewhere
//     (AccountPurgers); a crash in between leaves orphaned mail that `user del` of the same
//     address cannot reach, which Purge (later) collects. We prefer orphaned bytes to a
//     deliverable address without a mailbox.
//
// Acting for someone: Service.As(actor) returns a Scoped view (scoped.go) whose every
// method first authorises the actor by role and tenant (authz.go: the rules of
// ARCHITECTURE.md "Roles", pure functions), then calls the functions below, ends web
// sessions where a change must (new password, disabled account), and records the change
// in the directory's audit log (audit.go) with who, when, what and from where. The JSON
// API and the console use only Scoped, so a role's limits are checked on the server in one
// place whatever the front-end shows.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// Service performs administrative operations.
type Service struct {
	Dir    directory.Directory
	Shards store.Shards
	// Log receives what nothing else can report (an audit entry that could not be
	// written after its change committed). nil: slog.Default().
	Log *slog.Logger
	// DomainGrace is how long a deleted domain can be restored before its purge
	// (domains_lifecycle.go); 0: DefaultDomainGrace.
	DomainGrace time.Duration
	// Cluster is the nodes, shards and migrations view (nodes.go); nil: those calls
	// answer ErrNotCluster.
	Cluster *Cluster
	// DomainPurgers remove what other parts keep per domain (the filter state, the
	// embedded DKIM key files) when a deleted domain is purged, after its mail and before
	// its directory rows. Each must take a domain it keeps nothing of as done.
	DomainPurgers []func(ctx context.Context, domain string) error
	// AccountPurgers remove what other parts keep per account (the filter state, the
	// address book, scheduled sends, external POP3 accounts) when an account is deleted,
	// after its directory row and its mail. Each must take an account it keeps nothing
	// of as done. The directory row's own dependants (web sessions, API tokens, TOTP, the
	// SMS rule) go with the row.
	AccountPurgers []func(ctx context.Context, acct store.AccountRef) error
}

// Ref returns the store reference of an account.
func Ref(a directory.Account) store.AccountRef {
	return store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
}

// AddDomain validates the name and creates the domain, enabled.
func (s *Service) AddDomain(ctx context.Context, d directory.Domain) (directory.Domain, error) {
	name, err := mail.ParseDomain(d.Name)
	if err != nil {
		return directory.Domain{}, fmt.Errorf("domain %q: %w", d.Name, err)
	}
	d.Name = name
	d.Enabled = true
	if err := s.Dir.CreateDomain(ctx, d); err != nil {
		return directory.Domain{}, err
	}
	return s.Dir.Domain(ctx, name)
}

// DeleteDomain removes a domain at once, without the grace period of MarkDomainDeleted.
// Without force it refuses while accounts or aliases exist; with force it deletes every
// account first (DeleteAccount: mail and state elsewhere). Then, as the purge does, the
// domain's state elsewhere (DomainPurgers), then its directory rows.
func (s *Service) DeleteDomain(ctx context.Context, name string, force bool) error {
	name, err := mail.ParseDomain(name)
	if err != nil {
		return err
	}
	if _, err := s.Dir.Domain(ctx, name); err != nil {
		return err
	}
	accts, err := s.Dir.Accounts(ctx, name)
	if err != nil {
		return err
	}
	if !force {
		aliases, err := s.Dir.Aliases(ctx, name)
		if err != nil {
			return err
		}
		if n := len(accts) + len(aliases); n > 0 {
			return fmt.Errorf("%w: %q has %d accounts and %d aliases", directory.ErrDomainNotEmpty, name, len(accts), len(aliases))
		}
	}
	for _, a := range accts {
		if err := s.DeleteAccount(ctx, a.Address); err != nil {
			return fmt.Errorf("delete %s: %w", a.Address, err)
		}
	}
	for _, p := range s.DomainPurgers {
		if err := p(ctx, name); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
	}
	return s.Dir.DeleteDomain(ctx, name, force)
}

// AddAccount creates the account and its mailboxes.
func (s *Service) AddAccount(ctx context.Context, n directory.NewAccount) (directory.Account, error) {
	a, err := s.Dir.CreateAccount(ctx, n)
	if err != nil {
		return directory.Account{}, err
	}
	st, err := s.Shards.Shard(a.Shard)
	if err != nil {
		return a, fmt.Errorf("account created, but its shard %q: %w", a.Shard, err)
	}
	if err := st.EnsureAccount(ctx, Ref(a)); err != nil {
		return a, fmt.Errorf("account created, but its mailboxes: %w", err)
	}
	return a, nil
}

// DeleteAccount removes the account from the directory, then its mail, then what other
// parts keep for it (AccountPurgers; every purger runs even when one fails, and the
// failures are reported together). Account IDs are never reused, so what a failed
// purger leaves behind is never inherited by an account re-created at the address.
func (s *Service) DeleteAccount(ctx context.Context, addr mail.Address) error {
	a, err := s.Dir.Account(ctx, addr)
	if err != nil {
		return err
	}
	if err := s.Dir.DeleteAccount(ctx, addr); err != nil {
		return err
	}
	// The open sessions end first, saying why (announce.go); a failure to reach them does
	// not keep the mail: the deletion goes on and reports it.
	aerr := s.announce(ctx, store.AccountDeleted, a)
	if aerr != nil {
		aerr = fmt.Errorf("account removed, but %w", aerr)
	}
	st, err := s.Shards.Shard(a.Shard)
	if err != nil {
		return errors.Join(aerr, fmt.Errorf("account removed, but its shard %q: %w", a.Shard, err))
	}
	if err := st.DeleteAccount(ctx, Ref(a)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return errors.Join(aerr, fmt.Errorf("account removed, but its mail: %w", err))
	}
	return errors.Join(aerr, s.purgeAccount(ctx, Ref(a)))
}

// purgeAccount runs every AccountPurger for acct.
func (s *Service) purgeAccount(ctx context.Context, acct store.AccountRef) error {
	var errs []error
	for _, p := range s.AccountPurgers {
		errs = append(errs, p(ctx, acct))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("account removed, but its state elsewhere: %w", err)
	}
	return nil
}

// AccountInfo is an account with its usage.
type AccountInfo struct {
	directory.Account
	Usage store.Usage
}

// Account returns an account with its store usage.
func (s *Service) Account(ctx context.Context, addr mail.Address) (AccountInfo, error) {
	a, err := s.Dir.Account(ctx, addr)
	if err != nil {
		return AccountInfo{}, err
	}
	st, err := s.Shards.Shard(a.Shard)
	if err != nil {
		return AccountInfo{}, err
	}
	u, err := st.Usage(ctx, Ref(a))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return AccountInfo{}, err
	}
	return AccountInfo{Account: a, Usage: u}, nil
}

// AddAlias validates and creates an alias. source is "local@domain" or "@domain".
func (s *Service) AddAlias(ctx context.Context, source string, targets []string) (directory.Alias, error) {
	al, err := ParseAlias(source, targets)
	if err != nil {
		return directory.Alias{}, err
	}
	return al, s.Dir.CreateAlias(ctx, al)
}

// ParseAliasSource normalises an alias source: "local@domain" to its key form, or
// "@domain" (catch-all). It returns the source and its domain.
func ParseAliasSource(source string) (key, domain string, err error) {
	if len(source) > 1 && source[0] == '@' {
		d, err := mail.ParseDomain(source[1:])
		if err != nil {
			return "", "", fmt.Errorf("alias %s: %w", source, err)
		}
		return "@" + d, d, nil
	}
	a, err := mail.Parse(source)
	if err != nil {
		return "", "", fmt.Errorf("alias %s: %w", source, err)
	}
	return a.Key(), a.Domain, nil
}

// ParseAlias normalises an alias source and its targets.
func ParseAlias(source string, targets []string) (directory.Alias, error) {
	var al directory.Alias
	if len(targets) == 0 {
		return al, fmt.Errorf("alias %s: at least one target: %w", source, directory.ErrInvalid)
	}
	key, domain, err := ParseAliasSource(source)
	if err != nil {
		return al, err
	}
	al.Source, al.Domain = key, domain
	for _, t := range targets {
		a, err := mail.Parse(t)
		if err != nil {
			return al, fmt.Errorf("alias target %s: %w", t, err)
		}
		al.Targets = append(al.Targets, a.String())
	}
	return al, nil
}
