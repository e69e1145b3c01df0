package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// AdminAddress is the system administrator's login: admin@HOSTNAME.
func AdminAddress(hostname string) mail.Address {
	return mail.Address{Local: "admin", Domain: hostname}
}

// Bootstrap makes a fresh installation usable: when no system administrator exists it
// creates the hostname's domain, the account admin@HOSTNAME with the system-admin role and
// postmaster@HOSTNAME as its alias (RFC 5321 4.5.1). The password is pw, or a random one
// when pw is empty; it is returned so the caller prints it once. created is false when an
// administrator existed already (nothing changed).
//
// Cluster nodes starting at once may all find no administrator: the directory's
// uniqueness of domains and addresses lets one of them create it, and the others get
// ErrExists, which means "already bootstrapped" (they should share the hostname, so the
// address is the same; see docs/operations.md). A cluster without a registered shard has
// nowhere to keep the administrator's mail yet: Bootstrap then only logs how to go on,
// and the next node start after `mailgrid shard add` creates it.
func (s *System) Bootstrap(ctx context.Context, pw string) (created bool, password string, err error) {
	if ok, err := s.hasShards(ctx); err != nil {
		return false, "", err
	} else if !ok {
		s.Log.Warn("no store shard registered: the system administrator is created at the next start after `mailgrid shard add`")
		return false, "", nil
	}
	accts, err := s.Dir.Accounts(ctx, "")
	if err != nil {
		return false, "", err
	}
	for _, a := range accts {
		if a.Role == directory.RoleSystemAdmin {
			return false, "", nil
		}
	}
	host := s.Cfg.Hostname
	if _, err := s.Dir.Domain(ctx, host); errors.Is(err, directory.ErrNotFound) {
		if _, err := s.Admin.AddDomain(ctx, directory.Domain{Name: host}); err != nil && !errors.Is(err, directory.ErrExists) {
			return false, "", fmt.Errorf("bootstrap domain %s: %w", host, err)
		}
	} else if err != nil {
		return false, "", err
	}
	if pw == "" {
		pw = randomPassword()
	}
	addr := AdminAddress(host)
	if _, err := s.Admin.AddAccount(ctx, directory.NewAccount{Address: addr, Password: pw, Role: directory.RoleSystemAdmin}); errors.Is(err, directory.ErrExists) {
		return false, "", nil // another node won the race
	} else if err != nil {
		return false, "", fmt.Errorf("bootstrap admin %s: %w", addr, err)
	}
	if _, err := s.Admin.AddAlias(ctx, "postmaster@"+host, []string{addr.String()}); err != nil && !errors.Is(err, directory.ErrExists) {
		return false, "", fmt.Errorf("bootstrap postmaster alias: %w", err)
	}
	return true, pw, nil
}

// randomPassword returns 26 base32 characters (130 bits) from crypto/rand.
func randomPassword() string { return rand.Text() }
