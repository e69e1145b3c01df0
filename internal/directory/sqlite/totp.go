package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mailgrid/internal/directory"
)

// TOTP second factors (directory.TOTPStore), table account_totp.

func getTOTP(ctx context.Context, q querier, accountID int64) (directory.TOTPState, error) {
	var s directory.TOTPState
	err := q.QueryRowContext(ctx, `SELECT secret, enabled, last_step FROM account_totp WHERE account_id = $1`,
		accountID).Scan(&s.Secret, &s.Enabled, &s.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return s, notFound("TOTP")
	}
	if err != nil {
		return s, fmt.Errorf("sqlite directory: TOTP: %w", err)
	}
	return s, nil
}

// TOTP returns an account's TOTP state.
func (d *Directory) TOTP(ctx context.Context, accountID int64) (directory.TOTPState, error) {
	return getTOTP(ctx, d.r, accountID)
}

// SetTOTP stores a pending secret, unless an enabled one exists.
func (d *Directory) SetTOTP(ctx context.Context, accountID int64, secret string) error {
	if secret == "" {
		return fmt.Errorf("%w: empty TOTP secret", directory.ErrInvalid)
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		cur, err := getTOTP(ctx, tx, accountID)
		switch {
		case err == nil && cur.Enabled:
			return fmt.Errorf("%w: TOTP already enabled", directory.ErrExists)
		case err != nil && !errors.Is(err, directory.ErrNotFound):
			return err
		}
		var ok bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, accountID).Scan(&ok); err != nil {
			return fmt.Errorf("sqlite directory: TOTP: %w", err)
		}
		if !ok {
			return notFound(fmt.Sprintf("account %d", accountID))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_totp (account_id, secret, enabled, last_step)
			VALUES ($1, $2, 0, 0) ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret, last_step = 0`,
			accountID, secret); err != nil {
			return fmt.Errorf("sqlite directory: set TOTP: %w", err)
		}
		return nil
	})
}

// EnableTOTP turns the pending secret on, with step used.
func (d *Directory) EnableTOTP(ctx context.Context, accountID int64, step int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `UPDATE account_totp SET enabled = 1, last_step = $2
			WHERE account_id = $1 AND enabled = 0`, accountID, step))("pending TOTP")
	})
}

// UseTOTPStep consumes a time step once.
func (d *Directory) UseTOTPStep(ctx context.Context, accountID int64, step int64) (bool, error) {
	var ok bool
	err := d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE account_totp SET last_step = $2
			WHERE account_id = $1 AND enabled = 1 AND last_step < $2`, accountID, step)
		if err != nil {
			return fmt.Errorf("sqlite directory: use TOTP step: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite directory: use TOTP step: %w", err)
		}
		ok = n == 1
		return nil
	})
	return ok, err
}

// DeleteTOTP removes an account's secret.
func (d *Directory) DeleteTOTP(ctx context.Context, accountID int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `DELETE FROM account_totp WHERE account_id = $1`, accountID))("TOTP")
	})
}
