package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// Single sign-on secrets and nonces (directory.SSOSecretStore), SMS rules and counters
// (directory.SMSStore), as the SQLite driver's schema v5. Each mutation is one statement
// whose WHERE clause or conflict target is its precondition, so the rules hold across
// nodes without locks: of two nodes inserting the same nonce one inserts, the other sees
// the conflict (the unique index waits for the first to commit).

var (
	_ directory.SSOSecretStore = (*Directory)(nil)
	_ directory.SMSStore       = (*Directory)(nil)
)

// schemaV8 adds the per-domain SSO secrets, the used SSO nonces, the accounts' SMS rules
// and the SMS counters (no foreign key: a domain's statistics outlive its accounts).
const schemaV8 = `
CREATE TABLE domain_sso (
	domain     text COLLATE "C" PRIMARY KEY REFERENCES domains(name) ON DELETE CASCADE,
	secret     text NOT NULL,
	updated_at timestamptz NOT NULL
);

CREATE TABLE sso_nonces (
	domain     text COLLATE "C" NOT NULL,
	nonce      text COLLATE "C" NOT NULL,
	expires_at timestamptz NOT NULL,
	PRIMARY KEY (domain, nonce)
);
CREATE INDEX sso_nonces_by_expiry ON sso_nonces(expires_at);

CREATE TABLE sms_rules (
	account_id       bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	phone            text NOT NULL,
	from_contains    text NOT NULL,
	subject_contains text NOT NULL,
	enabled          boolean NOT NULL
);

CREATE TABLE sms_counts (
	domain     text COLLATE "C" NOT NULL,
	account_id bigint NOT NULL,
	address    text NOT NULL,
	day        text COLLATE "C" NOT NULL, -- YYYY-MM-DD, UTC
	notify     bigint NOT NULL,
	send       bigint NOT NULL,
	PRIMARY KEY (account_id, day)
);
CREATE INDEX sms_counts_by_domain ON sms_counts(domain, day);
`

// SSOSecret returns a domain's SSO secret.
func (d *Directory) SSOSecret(ctx context.Context, domain string) (string, error) {
	name, err := lookupDomain(domain)
	if err != nil {
		return "", err
	}
	var s string
	err = d.pool.QueryRow(ctx, `SELECT secret FROM domain_sso WHERE domain = $1`, name).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("SSO secret of " + name)
	}
	if err != nil {
		return "", fmt.Errorf("postgres directory: SSO secret: %w", err)
	}
	return s, nil
}

// SetSSOSecret stores, replaces or ("") removes a domain's SSO secret.
func (d *Directory) SetSSOSecret(ctx context.Context, domain, secret string) error {
	if err := directory.CheckSSOSecret(secret); err != nil {
		return err
	}
	name, err := lookupDomain(domain)
	if err != nil {
		return err
	}
	if secret == "" {
		var one int
		err := d.pool.QueryRow(ctx, `SELECT 1 FROM domains WHERE name = $1`, name).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("domain " + name)
		}
		if err != nil {
			return fmt.Errorf("postgres directory: SSO secret: %w", err)
		}
		_, err = d.exec(ctx, "SSO secret", `DELETE FROM domain_sso WHERE domain = $1`, name)
		return err
	}
	n, err := d.exec(ctx, "SSO secret", `INSERT INTO domain_sso (domain, secret, updated_at)
		SELECT name, $2, $3 FROM domains WHERE name = $1
		ON CONFLICT (domain) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at`,
		name, secret, d.now())
	if pgCode(err) == codeForeignKeyViolation || err == nil && n == 0 {
		return notFound("domain " + name)
	}
	return err
}

// UseSSONonce records a nonce once.
func (d *Directory) UseSSONonce(ctx context.Context, domain, nonce string, expires, now time.Time) (bool, error) {
	if nonce == "" || len(nonce) > directory.MaxSSONonce {
		return false, fmt.Errorf("%w: SSO nonce: 1 to %d bytes", directory.ErrInvalid, directory.MaxSSONonce)
	}
	if _, err := d.exec(ctx, "SSO nonces", `DELETE FROM sso_nonces WHERE expires_at <= $1`, now); err != nil {
		return false, err
	}
	n, err := d.exec(ctx, "SSO nonce", `INSERT INTO sso_nonces (domain, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, domain, nonce, expires)
	return n == 1, err
}

// SMSRule returns an account's SMS rule.
func (d *Directory) SMSRule(ctx context.Context, accountID int64) (directory.SMSRule, error) {
	r := directory.SMSRule{AccountID: accountID}
	err := d.pool.QueryRow(ctx, `SELECT a.domain, r.phone, r.from_contains, r.subject_contains, r.enabled
		FROM sms_rules r JOIN accounts a ON a.id = r.account_id WHERE r.account_id = $1`, accountID).
		Scan(&r.Domain, &r.Phone, &r.FromContains, &r.SubjectContains, &r.Enabled)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, notFound("SMS rule")
	}
	if err != nil {
		return r, fmt.Errorf("postgres directory: SMS rule: %w", err)
	}
	return r, nil
}

// SetSMSRule stores an account's SMS rule; the SELECT finds no row for an account of
// another domain, and the foreign key refuses one deleted meanwhile.
func (d *Directory) SetSMSRule(ctx context.Context, r directory.SMSRule) error {
	r, err := directory.NormSMSRule(r)
	if err != nil {
		return err
	}
	n, err := d.exec(ctx, "SMS rule", `INSERT INTO sms_rules (account_id, phone, from_contains, subject_contains, enabled)
		SELECT id, $3, $4, $5, $6 FROM accounts WHERE id = $1 AND domain = $2
		ON CONFLICT (account_id) DO UPDATE SET phone = excluded.phone, from_contains = excluded.from_contains,
			subject_contains = excluded.subject_contains, enabled = excluded.enabled`,
		r.AccountID, r.Domain, r.Phone, r.FromContains, r.SubjectContains, r.Enabled)
	if pgCode(err) == codeForeignKeyViolation || err == nil && n == 0 {
		return notFound(fmt.Sprintf("account %d", r.AccountID))
	}
	return err
}

// DeleteSMSRule removes an account's SMS rule.
func (d *Directory) DeleteSMSRule(ctx context.Context, accountID int64) error {
	return d.execOne(ctx, "SMS rule", `DELETE FROM sms_rules WHERE account_id = $1`, accountID)
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
	_, err := d.exec(ctx, "count SMS", `INSERT INTO sms_counts (domain, account_id, address, day, notify, send)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, day) DO UPDATE SET
		notify = sms_counts.notify + excluded.notify, send = sms_counts.send + excluded.send, address = excluded.address`,
		domain, accountID, address, directory.SMSDay(at), notify, send)
	return err
}

// SMSCounts lists SMS counters.
func (d *Directory) SMSCounts(ctx context.Context, domain string, since time.Time) ([]directory.SMSCount, error) {
	rows, err := d.pool.Query(ctx, `SELECT domain, account_id, address, day, notify, send FROM sms_counts
		WHERE ($1 = '' OR domain = $1) AND day >= $2 ORDER BY day, domain, account_id`, domain, directory.SMSDay(since))
	if err != nil {
		return nil, fmt.Errorf("postgres directory: SMS counts: %w", err)
	}
	defer rows.Close()
	var out []directory.SMSCount
	for rows.Next() {
		var c directory.SMSCount
		if err := rows.Scan(&c.Domain, &c.AccountID, &c.Address, &c.Day, &c.Notify, &c.Send); err != nil {
			return nil, fmt.Errorf("postgres directory: SMS counts: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres directory: SMS counts: %w", err)
	}
	return out, nil
}
