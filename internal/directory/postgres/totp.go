package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// TOTP second factors (directory.TOTPStore), table account_totp. Each mutation is one
// statement whose WHERE clause is its precondition: under READ COMMITTED a statement
// that waited for a concurrent update of the row re-checks that clause against the row
// as committed, so of several logins presenting one time step exactly one moves
// last_step forward (RFC 6238 5.2: a code is accepted once), on any node.

// TOTP returns an account's TOTP state.
func (d *Directory) TOTP(ctx context.Context, accountID int64) (directory.TOTPState, error) {
	var s directory.TOTPState
	err := d.pool.QueryRow(ctx, `SELECT secret, enabled, last_step FROM account_totp WHERE account_id = $1`,
		accountID).Scan(&s.Secret, &s.Enabled, &s.LastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("TOTP")
	}
	if err != nil {
		return s, fmt.Errorf("postgres directory: TOTP: %w", err)
	}
	return s, nil
}

// SetTOTP stores a pending secret, replacing a pending one; an enabled one is kept
// (ErrExists), and an unknown account is ErrNotFound (the foreign key).
func (d *Directory) SetTOTP(ctx context.Context, accountID int64, secret string) error {
	if secret == "" {
		return fmt.Errorf("%w: empty TOTP secret", directory.ErrInvalid)
	}
	n, err := d.exec(ctx, "set TOTP", `INSERT INTO account_totp (account_id, secret, enabled, last_step)
		VALUES ($1, $2, false, 0)
		ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret, last_step = 0
		WHERE NOT account_totp.enabled`, accountID, secret)
	switch {
	case pgCode(err) == codeForeignKeyViolation:
		return notFound(fmt.Sprintf("account %d", accountID))
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("%w: TOTP already enabled", directory.ErrExists)
	}
	return nil
}

// EnableTOTP turns the pending secret on, with step used.
func (d *Directory) EnableTOTP(ctx context.Context, accountID int64, step int64) error {
	return d.execOne(ctx, "pending TOTP", `UPDATE account_totp SET enabled = true, last_step = $2
		WHERE account_id = $1 AND NOT enabled`, accountID, step)
}

// UseTOTPStep consumes a time step once: it reports false for a step not later than the
// last one accepted, and for an account without an enabled secret.
func (d *Directory) UseTOTPStep(ctx context.Context, accountID int64, step int64) (bool, error) {
	n, err := d.exec(ctx, "use TOTP step", `UPDATE account_totp SET last_step = $2
		WHERE account_id = $1 AND enabled AND last_step < $2`, accountID, step)
	return n == 1, err
}

// DeleteTOTP removes an account's secret, pending or enabled.
func (d *Directory) DeleteTOTP(ctx context.Context, accountID int64) error {
	return d.execOne(ctx, "TOTP", `DELETE FROM account_totp WHERE account_id = $1`, accountID)
}
