package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/filter"
)

var _ filter.DomainSwitches = (*DB)(nil)

// DomainSwitches implements filter.DomainSwitches.
func (d *DB) DomainSwitches(ctx context.Context, domain string) (filter.Switches, error) {
	var s filter.Switches
	err := d.pool.QueryRow(ctx, `SELECT no_antivirus, no_antispam FROM domain_switches WHERE domain = $1`, domain).
		Scan(&s.NoAntivirus, &s.NoAntispam)
	if errors.Is(err, pgx.ErrNoRows) {
		return filter.Switches{}, nil
	}
	return s, dbErr("domain switches", err)
}

// SetDomainSwitches implements filter.DomainSwitches.
func (d *DB) SetDomainSwitches(ctx context.Context, domain string, s filter.Switches) error {
	_, err := d.pool.Exec(ctx, `INSERT INTO domain_switches (domain, no_antivirus, no_antispam) VALUES ($1, $2, $3)
		ON CONFLICT (domain) DO UPDATE SET no_antivirus = excluded.no_antivirus, no_antispam = excluded.no_antispam`,
		domain, s.NoAntivirus, s.NoAntispam)
	return dbErr("set domain switches", err)
}
