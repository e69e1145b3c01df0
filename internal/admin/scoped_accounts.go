package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// Accounts lists the accounts of a domain the actor administers.
func (c *Scoped) Accounts(ctx context.Context, domain string) ([]directory.Account, error) {
	domain, err := c.visibleDomain(domain)
	if err == nil {
		err = c.checkNotDeleted(ctx, domain)
	}
	if err != nil {
		return nil, err
	}
	return c.s.Dir.Accounts(ctx, domain)
}

// account reads account id of domain if the actor may see it (ErrNotFound otherwise:
// another tenant's ids are indistinguishable from unknown ones).
func (c *Scoped) account(ctx context.Context, domain string, id int64) (directory.Account, error) {
	domain, err := normDomain(domain)
	if err != nil {
		return directory.Account{}, err
	}
	a, err := c.s.Dir.AccountByID(ctx, domain, id)
	if err != nil {
		return a, err
	}
	if !c.a.CanSeeAccount(a) {
		return directory.Account{}, fmt.Errorf("%w: account %d", directory.ErrNotFound, id)
	}
	return a, c.checkNotDeleted(ctx, domain)
}

// Account returns one account with its usage.
func (c *Scoped) Account(ctx context.Context, domain string, id int64) (AccountInfo, error) {
	a, err := c.account(ctx, domain, id)
	if err != nil {
		return AccountInfo{}, err
	}
	return c.s.Account(ctx, a.Address)
}

// CreateAccount creates an account and its mailboxes.
func (c *Scoped) CreateAccount(ctx context.Context, n directory.NewAccount) (directory.Account, error) {
	if err := c.a.CheckCreateAccount(n); err != nil {
		return directory.Account{}, err
	}
	a, err := c.s.AddAccount(ctx, n)
	if a.ID != 0 { // created, even if its mailboxes failed
		c.Record(ctx, "account.create", a.Address.Domain, a.Address.String(), describeAccount(a))
	}
	return a, err
}

// UpdateAccount applies u to account id of domain. An actor changing its own password
// must give the current one (ErrWrongPassword otherwise). A new password or a disabled
// account ends the account's web sessions (all of them: the caller issues the actor a
// fresh one after changing its own password).
func (c *Scoped) UpdateAccount(ctx context.Context, domain string, id int64, u directory.AccountUpdate, currentPassword string) (directory.Account, error) {
	t, err := c.account(ctx, domain, id)
	if err != nil {
		return t, err
	}
	if err := c.a.CheckAccountUpdate(t, u); err != nil {
		return directory.Account{}, err
	}
	if u.Password != nil && c.a.isSelf(t) {
		if _, err := c.s.Dir.Authenticate(ctx, t.Address.String(), currentPassword); err != nil {
			if errors.Is(err, directory.ErrAuthFailed) {
				return directory.Account{}, ErrWrongPassword
			}
			return directory.Account{}, err
		}
	}
	a, err := c.s.Dir.UpdateAccount(ctx, t.Address, u)
	if err != nil {
		return a, err
	}
	if u.Password != nil || (u.Enabled != nil && !*u.Enabled) {
		if err := c.s.RevokeSessions(ctx, a.ID, 0); err != nil {
			return a, fmt.Errorf("account updated, but its sessions: %w", err)
		}
	}
	c.Record(ctx, "account.update", a.Address.Domain, a.Address.String(), describeUpdate(u))
	if u.Enabled != nil && !*u.Enabled { // IMAP and POP3 sessions end too (announce.go)
		if err := c.s.announce(ctx, store.AccountDisabled, a); err != nil {
			return a, fmt.Errorf("account updated, but %w", err)
		}
	}
	return a, nil
}

// DeleteAccount removes account id of domain, its mail and its state elsewhere
// (Service.DeleteAccount). A deletion whose later steps failed once the directory row was
// gone is still recorded, with the failure as its detail: the account is deleted.
func (c *Scoped) DeleteAccount(ctx context.Context, domain string, id int64) error {
	t, err := c.account(ctx, domain, id)
	if err != nil {
		return err
	}
	if err := c.a.CheckDeleteAccount(t); err != nil {
		return err
	}
	if err := c.s.DeleteAccount(ctx, t.Address); err != nil {
		if _, gerr := c.s.Dir.AccountByID(ctx, t.Address.Domain, t.ID); errors.Is(gerr, directory.ErrNotFound) {
			c.Record(ctx, "account.delete", t.Address.Domain, t.Address.String(), "incomplete: "+err.Error())
		}
		return err
	}
	c.Record(ctx, "account.delete", t.Address.Domain, t.Address.String(), "")
	return nil
}

// RevokeSessions ends an account's web sessions but exceptID (0: all), when the
// directory keeps sessions.
func (s *Service) RevokeSessions(ctx context.Context, accountID, exceptID int64) error {
	ss, ok := s.Dir.(directory.SessionStore)
	if !ok {
		return nil
	}
	_, err := ss.DeleteSessions(ctx, accountID, exceptID)
	return err
}

func describeAccount(a directory.Account) string {
	return fmt.Sprintf("role=%s admin_domains=%s quota_bytes=%d quota_messages=%d disabled_services=%s",
		a.Role, strings.Join(a.AdminDomains, ","), a.QuotaBytes, a.QuotaMessages, strings.Join(a.DisabledServices, ","))
}

// describeUpdate names what u changes; a password is only said to have changed.
func describeUpdate(u directory.AccountUpdate) string {
	var f []string
	if u.Password != nil {
		f = append(f, "password=(changed)")
	}
	if u.QuotaBytes != nil {
		f = append(f, fmt.Sprintf("quota_bytes=%d", *u.QuotaBytes))
	}
	if u.QuotaMessages != nil {
		f = append(f, fmt.Sprintf("quota_messages=%d", *u.QuotaMessages))
	}
	if u.Enabled != nil {
		f = append(f, fmt.Sprintf("enabled=%v", *u.Enabled))
	}
	if u.Role != nil {
		f = append(f, "role="+string(*u.Role))
	}
	if u.AdminDomains != nil {
		f = append(f, "admin_domains="+strings.Join(*u.AdminDomains, ","))
	}
	if u.Shard != nil {
		f = append(f, "shard="+*u.Shard)
	}
	if u.DisabledServices != nil {
		f = append(f, "disabled_services="+strings.Join(*u.DisabledServices, ","))
	}
	return strings.Join(f, " ")
}

// Aliases lists the aliases of a domain the actor administers.
func (c *Scoped) Aliases(ctx context.Context, domain string) ([]directory.Alias, error) {
	domain, err := c.visibleDomain(domain)
	if err == nil {
		err = c.checkNotDeleted(ctx, domain)
	}
	if err != nil {
		return nil, err
	}
	return c.s.Dir.Aliases(ctx, domain)
}

// CreateAlias adds an alias to a domain the actor administers; source must be in it.
func (c *Scoped) CreateAlias(ctx context.Context, domain, source string, targets []string) (directory.Alias, error) {
	domain, err := c.visibleDomain(domain)
	if err == nil {
		err = c.checkNotDeleted(ctx, domain)
	}
	if err != nil {
		return directory.Alias{}, err
	}
	al, err := ParseAlias(source, targets)
	if err != nil {
		return al, err
	}
	if al.Domain != domain {
		return directory.Alias{}, fmt.Errorf("%w: alias %s is not in %s", directory.ErrInvalid, source, domain)
	}
	if err := c.s.Dir.CreateAlias(ctx, al); err != nil {
		return directory.Alias{}, err
	}
	c.Record(ctx, "alias.create", domain, al.Source, strings.Join(al.Targets, ","))
	return al, nil
}

// DeleteAlias removes an alias of a domain the actor administers.
func (c *Scoped) DeleteAlias(ctx context.Context, domain, source string) error {
	domain, err := c.visibleDomain(domain)
	if err == nil {
		err = c.checkNotDeleted(ctx, domain)
	}
	if err != nil {
		return err
	}
	key, dom, err := ParseAliasSource(source)
	if err != nil || dom != domain {
		return fmt.Errorf("%w: alias %s", directory.ErrNotFound, source)
	}
	if err := c.s.Dir.DeleteAlias(ctx, domain, key); err != nil {
		return err
	}
	c.Record(ctx, "alias.delete", domain, key, "")
	return nil
}
