package config

import (
	"errors"
	"time"
)

// Admin configures the administration service layer (internal/admin).
type Admin struct {
	// DomainGrace is how long a deleted domain stays restorable (disabled: mail and
	// logins refused) before any node's purge job deletes its accounts, their mail and
	// its aliases.
	DomainGrace Duration `toml:"domain_grace"`
}

// defaultAdmin is [admin] by default: a 30-day grace.
func defaultAdmin() Admin { return Admin{DomainGrace: Duration(30 * 24 * time.Hour)} }

func (a Admin) validate() []error {
	if a.DomainGrace <= 0 {
		return []error{errors.New("admin.domain_grace must be > 0")}
	}
	return nil
}
