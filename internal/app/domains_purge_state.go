package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// purgeDomainState is the admin service's domain purger (admin.Service.DomainPurgers):
// the domain's filter state (block list, rules, switches, quarantine, the accounts'
// scripts, documents and Bayes data) and, embedded, its DKIM key files under DATA/dkim.
// In a cluster the DKIM keys are directory rows that go with the domain's row.
func (s *System) purgeDomainState(ctx context.Context, domain string) error {
	name, err := mail.ParseDomain(domain)
	if err != nil {
		return err
	}
	db, err := s.openFilterState(ctx)
	if err != nil {
		return fmt.Errorf("filter state: %w", err)
	}
	dd, ok := db.(filter.DomainDeleter)
	if !ok {
		err = fmt.Errorf("filter state %T cannot delete a domain", db)
	} else {
		err = dd.DeleteDomain(ctx, name)
	}
	if err = errors.Join(err, db.Close()); err != nil {
		return fmt.Errorf("filter state: %w", err)
	}
	if s.cluster != nil {
		return nil
	}
	root := filepath.Join(s.Cfg.Data, "dkim")
	dir := filepath.Join(root, name)
	if filepath.Dir(dir) != root { // ParseDomain admits no separator; stay inside DATA/dkim anyway
		return fmt.Errorf("dkim keys: invalid domain %q", name)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("dkim keys: %w", err)
	}
	return nil
}
