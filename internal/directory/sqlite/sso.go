package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/directory"
)

// Single sign-on secrets and nonces (directory.SSOSecretStore), SMS rules and counters
// (directory.SMSStore): schema v5.

var (
	_ directory.SSOSecretStore = (*Directory)(nil)
	_ directory.SMSStore       = (*Directory)(nil)
)

// schemaV5 adds the per-domain SSO secrets (going with their domain), the nonces of used
// SSO links (until they expire), the accounts' SMS notification rules (going with their
// account) and the SMS counters (per account and UTC day; no foreign key, so a domain's
// statistics outlive its deleted accounts).
const schemaV5 = `
CREATE TABLE domain_sso (
	domain     TEXT PRIMARY KEY REFERENCES domains(name) ON DELETE CASCADE,
	secret     TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sso_nonces (
	domain     TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (domain, nonce)
) STRICT;
CREATE INDEX sso_nonces_by_expiry ON sso_nonces(expires_at);

CREATE TABLE sms_rules (
	account_id       INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	phone            TEXT NOT NULL,
	from_contains    TEXT NOT NULL,
	subject_contains TEXT NOT NULL,
	enabled          INTEGER NOT NULL
) STRICT;

CREATE TABLE sms_counts (
	domain     TEXT NOT NULL,
	account_id INTEGER NOT NULL,
	address    TEXT NOT NULL,
	day        TEXT NOT NULL,  -- YYYY-MM-DD, UTC
	notify     INTEGER NOT NULL,
	send       INTEGER NOT NULL,
	PRIMARY KEY (account_id, day)
) STRICT;
CREATE INDEX sms_counts_by_domain ON sms_counts(domain, day);
`

// SSOSecret returns a domain's SSO secret.
func (d *Directory) SSOSecret(ctx context.Context, domain string) (string, error) {
	name, err := lookupDomainName(domain)
	if err != nil {
		return "", err
	}
	var s string
	err = d.r.QueryRowContext(ctx, `SELECT secret FROM domain_sso WHERE domain = $1`, name).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("SSO secret of " + name)
	}
	if err != nil {
		return "", fmt.Errorf("sqlite directory: SSO secret: %w", err)
	}
	return s, nil
}

// SetSSOSecret stores, replaces or ("") removes a domain's SSO secret.
func (d *Directory) SetSSOSecret(ctx context.Context, domain, secret string) error {
	if err := directory.CheckSSOSecret(secret); err != nil {
		return err
	}
	name, err := lookupDomainName(domain)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, name); err != nil {
			return err
		}
		if secret == "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM domain_sso WHERE domain = $1`, name); err != nil {
				return fmt.Errorf("sqlite directory: SSO secret: %w", err)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO domain_sso (domain, secret, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (domain) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at`,
			name, secret, micros(d.now())); err != nil {
			return fmt.Errorf("sqlite directory: SSO secret: %w", err)
		}
		return nil
	})
}

// UseSSONonce records a nonce once.
func (d *Directory) UseSSONonce(ctx context.Context, domain, nonce string, expires, now time.Time) (bool, error) {
	if nonce == "" || len(nonce) > directory.MaxSSONonce {
		return false, fmt.Errorf("%w: SSO nonce: 1 to %d bytes", directory.ErrInvalid, directory.MaxSSONonce)
	}
	var fresh bool
	err := d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sso_nonces WHERE expires_at <= $1`, micros(now)); err != nil {
			return fmt.Errorf("sqlite directory: SSO nonces: %w", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO sso_nonces (domain, nonce, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, domain, nonce, micros(expires))
		if err != nil {
			return fmt.Errorf("sqlite directory: SSO nonce: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite directory: SSO nonce: %w", err)
		}
		fresh = n == 1
		return nil
	})
	return fresh, err
}

// SMSRule returns an account's SMS rule.
func (d *Directory) SMSRule(ctx context.Context, accountID int64) (directory.SMSRule, error) {
	r := directory.SMSRule{AccountID: accountID}
	err := d.r.QueryRowContext(ctx, `SELECT a.domain, r.phone, r.from_contains, r.subject_contains, r.enabled
		FROM sms_rules r JOIN accounts a ON a.id = r.account_id WHERE r.account_id = $1`, accountID).
		Scan(&r.Domain, &r.Phone, &r.FromContains, &r.SubjectContains, &r.Enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("SMS rule")
	}
	if err != nil {
		return r, fmt.Errorf("sqlite directory: SMS rule: %w", err)
	}
	return r, nil
}

// SetSMSRule stores an account's SMS rule.
func (d *Directory) SetSMSRule(ctx context.Context, r directory.SMSRule) error {
	r, err := directory.NormSMSRule(r)
	if err != nil {
		return err
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = $1 AND domain = $2`, r.AccountID, r.Domain).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(fmt.Sprintf("account %d", r.AccountID))
		}
		if err != nil {
			return fmt.Errorf("sqlite directory: SMS rule: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sms_rules (account_id, phone, from_contains, subject_contains, enabled)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id) DO UPDATE SET phone = excluded.phone,
			from_contains = excluded.from_contains, subject_contains = excluded.subject_contains, enabled = excluded.enabled`,
			r.AccountID, r.Phone, r.FromContains, r.SubjectContains, boolInt(r.Enabled)); err != nil {
			return fmt.Errorf("sqlite directory: SMS rule: %w", err)
		}
		return nil
	})
}

// DeleteSMSRule removes an account's SMS rule.
func (d *Directory) DeleteSMSRule(ctx context.Context, accountID int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `DELETE FROM sms_rules WHERE account_id = $1`, accountID))("SMS rule")
	})
}

// CountSMS adds one SMS to the account's counter of the day.
func (d *Directory) CountSMS(ctx context.Context, domain string, accountID int64, address string, kind directory.SMSKind, at time.Time) error {
	var notify, send int64
	switch kind {
	case directory.SMSNotify:
		notify = 1
	case directory.SMSSend:
		send = 1
	default:
		return fmt.Errorf("%w: SMS kind %q", directory.ErrInvalid, kind)
	}
	return d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sms_counts (domain, account_id, address, day, notify, send)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, day) DO UPDATE SET
			notify = notify + excluded.notify, send = send + excluded.send, address = excluded.address`,
			domain, accountID, address, directory.SMSDay(at), notify, send); err != nil {
			return fmt.Errorf("sqlite directory: count SMS: %w", err)
		}
		return nil
	})
}

// SMSCounts lists SMS counters.
func (d *Directory) SMSCounts(ctx context.Context, domain string, since time.Time) ([]directory.SMSCount, error) {
	rows, err := d.r.QueryContext(ctx, `SELECT domain, account_id, address, day, notify, send FROM sms_counts
		WHERE ($1 = '' OR domain = $1) AND day >= $2 ORDER BY day, domain, account_id`, domain, directory.SMSDay(since))
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: SMS counts: %w", err)
	}
	var out []directory.SMSCount
	for rows.Next() {
		var c directory.SMSCount
		if err := rows.Scan(&c.Domain, &c.AccountID, &c.Address, &c.Day, &c.Notify, &c.Send); err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: SMS counts: %w", err), rows.Close())
		}
		out = append(out, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: SMS counts: %w", err)
	}
	return out, nil
}
