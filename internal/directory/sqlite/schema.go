package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SchemaVersion is the schema version this code writes (PRAGMA user_version).
const SchemaVersion = 7

// migrations returns the schema steps in order: step i brings user_version i to i+1.
// Never edit a released step; append a new one and bump SchemaVersion.
func migrations() []string {
	return []string{schemaV1, schemaV2, schemaV3, schemaV4, schemaV5, schemaV6, schemaV7}
}

// schemaV1 is the initial schema. Times are UTC microseconds since the epoch; booleans 0/1.
const schemaV1 = `
CREATE TABLE domains (
	name              TEXT PRIMARY KEY,  -- ASCII (A-label), lower case
	enabled           INTEGER NOT NULL,
	max_message_bytes INTEGER NOT NULL,
	max_quota_bytes   INTEGER NOT NULL,
	max_users         INTEGER NOT NULL,
	created_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE accounts (
	id             INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: the store keys mail by it
	domain         TEXT NOT NULL REFERENCES domains(name),
	local          TEXT NOT NULL,          -- local part as created, for display
	addr_key       TEXT NOT NULL UNIQUE,   -- mail.Address.Key(): folded local @ ASCII domain
	password_hash  TEXT NOT NULL,
	quota_bytes    INTEGER NOT NULL,
	quota_messages INTEGER NOT NULL,
	enabled        INTEGER NOT NULL,
	role           TEXT NOT NULL CHECK (role IN ('user', 'domain-admin', 'system-admin')),
	shard          TEXT NOT NULL,
	created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX accounts_by_domain ON accounts(domain, addr_key);

CREATE TABLE account_admin_domains (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain     TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	PRIMARY KEY (account_id, domain)
) STRICT;
CREATE INDEX account_admin_domains_by_domain ON account_admin_domains(domain);

CREATE TABLE aliases (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	domain     TEXT NOT NULL REFERENCES domains(name),
	source     TEXT NOT NULL UNIQUE,  -- key form "local@domain", or "@domain" (catch-all)
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX aliases_by_domain ON aliases(domain, source);

CREATE TABLE alias_targets (
	alias_id      INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
	pos           INTEGER NOT NULL,  -- order as given
	target        TEXT NOT NULL,     -- mail.Address.String() of the parsed target, for display
	target_local  TEXT NOT NULL,     -- its local part (unquoted) and
	target_key    TEXT NOT NULL,     -- its Key()
	base_key      TEXT NOT NULL,     -- Key() of its Base() (without "+detail")
	target_domain TEXT NOT NULL,     -- ASCII domain: the address, without re-parsing
	PRIMARY KEY (alias_id, pos),
	UNIQUE (alias_id, target_key)
) STRICT;
CREATE INDEX alias_targets_by_key ON alias_targets(target_key);
CREATE INDEX alias_targets_by_base ON alias_targets(base_key);
CREATE INDEX alias_targets_by_domain ON alias_targets(target_domain);
`

// schemaV2 adds the service switches (directory.Domain.DisabledServices and
// Account.DisabledServices): the sorted names joined by ",", "" for none. Rows of a v1
// file get "" (every service allowed), which is what they meant.
const schemaV2 = `
ALTER TABLE domains ADD COLUMN disabled_services TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN disabled_services TEXT NOT NULL DEFAULT '';
`

// schemaV3 adds the web front-end's credentials and the audit log (directory.SessionStore,
// APITokenStore, TOTPStore, AuditLog): sessions and API tokens keyed by the SHA-256 of
// their secret, TOTP secrets, all going with their account (ON DELETE CASCADE; account
// ids are never reused, so nothing is inherited); the audit log keeps no foreign keys, so
// it outlives what it describes.
const schemaV3 = `
CREATE TABLE web_sessions (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	token_hash   BLOB NOT NULL UNIQUE,   -- SHA-256 of the cookie secret
	account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain       TEXT NOT NULL,
	auth_hash    BLOB NOT NULL,          -- fingerprint of the password hash at sign-in
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	remote_addr  TEXT NOT NULL,
	user_agent   TEXT NOT NULL
) STRICT;
CREATE INDEX web_sessions_by_account ON web_sessions(account_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);

CREATE TABLE api_tokens (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	token_hash   BLOB NOT NULL UNIQUE,   -- SHA-256 of the secret
	account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain       TEXT NOT NULL,
	name         TEXT NOT NULL,
	scopes       TEXT NOT NULL,          -- sorted, comma-joined
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,       -- 0: never
	last_used_at INTEGER NOT NULL        -- 0: never used
) STRICT;
CREATE INDEX api_tokens_by_account ON api_tokens(account_id);

CREATE TABLE account_totp (
	account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	secret     TEXT NOT NULL,            -- base32, as in otpauth:// URIs
	enabled    INTEGER NOT NULL,
	last_step  INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	at        INTEGER NOT NULL,
	actor_id  INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	role      TEXT NOT NULL,
	via       TEXT NOT NULL,
	remote    TEXT NOT NULL,
	action    TEXT NOT NULL,
	domain    TEXT NOT NULL,
	target    TEXT NOT NULL,
	detail    TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_by_domain ON audit_log(domain, id);
`

// schemaV4 adds service plans (directory.PlanStore) and their assignment to domains: an
// assignment goes with its domain; a plan in use cannot be deleted (no cascade).
const schemaV4 = `
CREATE TABLE plans (
	name                 TEXT PRIMARY KEY,
	description          TEXT NOT NULL,
	mailbox_quota_bytes  INTEGER NOT NULL,
	max_message_bytes    INTEGER NOT NULL,
	max_attachment_bytes INTEGER NOT NULL,
	max_users            INTEGER NOT NULL,
	disabled_services    TEXT NOT NULL,  -- sorted, comma-joined
	sms                  INTEGER NOT NULL,
	antivirus            INTEGER NOT NULL,
	antispam             INTEGER NOT NULL,
	created_at           INTEGER NOT NULL
) STRICT;

CREATE TABLE domain_plans (
	domain TEXT PRIMARY KEY REFERENCES domains(name) ON DELETE CASCADE,
	plan   TEXT NOT NULL REFERENCES plans(name)
) STRICT;
CREATE INDEX domain_plans_by_plan ON domain_plans(plan);
`

// migrate applies the missing migrations, each with its version bump in one immediate
// transaction; the version is re-read inside it, so two processes opening the same new
// file at once apply each migration exactly once.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateOne(ctx, db)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite directory: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = fmt.Errorf("%w (rollback: %v)", err, rerr)
			}
		}
	}()
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return false, fmt.Errorf("sqlite directory: schema version: %w", err)
	}
	switch {
	case v > SchemaVersion:
		return false, fmt.Errorf("sqlite directory: schema version %d is newer than this program's %d", v, SchemaVersion)
	case v == SchemaVersion:
		return true, tx.Commit()
	}
	steps := migrations()
	if len(steps) != SchemaVersion {
		return false, fmt.Errorf("sqlite directory: %d migrations for schema version %d", len(steps), SchemaVersion)
	}
	if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
		return false, fmt.Errorf("sqlite directory: migration %d: %w", v+1, err)
	}
	// PRAGMA takes no bound parameters; v+1 is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
		return false, fmt.Errorf("sqlite directory: migration %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite directory: migration %d: commit: %w", v+1, err)
	}
	return false, nil
}
