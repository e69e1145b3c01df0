package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaVersion is the schema version this code writes.
const SchemaVersion = 10

// migrationLock is the pg_advisory_xact_lock key that serialises directory migrations
// across nodes ("mailgrd" and 1 in ASCII; the queue uses another key).
const migrationLock int64 = 0x6d61696c67726401

// migrations returns the schema steps in order: step i brings version i to i+1.
// Never edit a released step; append a new one and bump SchemaVersion.
func migrations() []string {
	return []string{schemaV1, schemaV2, schemaV3, schemaV4, schemaV5, schemaV6, schemaV7, schemaV8, schemaV9, schemaV10}
}

// schemaV1 is the directory proper, the tables of the SQLite driver's schema. Keys and
// names are COLLATE "C": bytewise equality and order, whatever the database's locale.
const schemaV1 = `
CREATE TABLE domains (
	name              text COLLATE "C" PRIMARY KEY, -- ASCII (A-label), lower case
	enabled           boolean NOT NULL,
	max_message_bytes bigint NOT NULL CHECK (max_message_bytes >= 0),
	max_quota_bytes   bigint NOT NULL CHECK (max_quota_bytes >= 0),
	max_users         integer NOT NULL CHECK (max_users >= 0),
	created_at        timestamptz NOT NULL
);

CREATE TABLE accounts (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- never reused
	domain         text COLLATE "C" NOT NULL REFERENCES domains(name),
	local          text NOT NULL,                     -- local part as created, for display
	addr_key       text COLLATE "C" NOT NULL UNIQUE,  -- mail.Address.Key()
	password_hash  text NOT NULL,
	quota_bytes    bigint NOT NULL,
	quota_messages bigint NOT NULL,
	enabled        boolean NOT NULL,
	role           text NOT NULL CHECK (role IN ('user', 'domain-admin', 'system-admin')),
	shard          text COLLATE "C" NOT NULL,
	created_at     timestamptz NOT NULL
);
CREATE INDEX accounts_by_domain ON accounts(domain, addr_key);

CREATE TABLE account_admin_domains (
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain     text COLLATE "C" NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
	PRIMARY KEY (account_id, domain)
);
CREATE INDEX account_admin_domains_by_domain ON account_admin_domains(domain);

CREATE TABLE aliases (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain     text COLLATE "C" NOT NULL REFERENCES domains(name),
	source     text COLLATE "C" NOT NULL UNIQUE, -- key form, or "@domain" (catch-all)
	created_at timestamptz NOT NULL
);
CREATE INDEX aliases_by_domain ON aliases(domain, source);

CREATE TABLE alias_targets (
	alias_id      bigint NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
	pos           integer NOT NULL,                -- order as given
	target        text NOT NULL,                   -- the parsed target's String(), for display
	target_local  text NOT NULL,                   -- its local part (unquoted)
	target_key    text COLLATE "C" NOT NULL,       -- its Key()
	base_key      text COLLATE "C" NOT NULL,       -- Key() of its Base() (no "+detail")
	target_domain text COLLATE "C" NOT NULL,       -- its ASCII domain
	PRIMARY KEY (alias_id, pos),
	UNIQUE (alias_id, target_key)
);
CREATE INDEX alias_targets_by_key ON alias_targets(target_key);
CREATE INDEX alias_targets_by_base ON alias_targets(base_key);
CREATE INDEX alias_targets_by_domain ON alias_targets(target_domain);
`

// schemaV2 adds the cluster registries: store shards (placement reads them) and nodes.
const schemaV2 = `
CREATE TABLE shards (
	name       text COLLATE "C" PRIMARY KEY,
	dsn        text NOT NULL,
	capacity   bigint NOT NULL CHECK (capacity >= 0), -- accounts; 0 = unlimited
	state      text NOT NULL CHECK (state IN ('active', 'draining', 'offline')),
	created_at timestamptz NOT NULL
);
CREATE INDEX accounts_by_shard ON accounts(shard);

CREATE TABLE nodes (
	name           text COLLATE "C" PRIMARY KEY,
	addresses      text[] NOT NULL,
	version        text NOT NULL,
	services       text[] NOT NULL,
	started_at     timestamptz NOT NULL,
	last_heartbeat timestamptz NOT NULL, -- the database's clock, so nodes' clocks never matter
	load           jsonb NOT NULL
);
`

// schemaV3 adds the service switches (directory.Domain.DisabledServices and
// Account.DisabledServices) as sorted text arrays. Existing rows get '{}' (every service
// allowed). The names are validated by the code, not by a CHECK, so a later service needs
// no migration.
const schemaV3 = `
ALTER TABLE domains ADD COLUMN disabled_services text[] NOT NULL DEFAULT '{}';
ALTER TABLE accounts ADD COLUMN disabled_services text[] NOT NULL DEFAULT '{}';
`

// schemaV4 adds the web front-end's credentials and the audit log (directory.SessionStore,
// APITokenStore, TOTPStore, AuditLog), as the SQLite driver's schema v3 does: sessions and
// API tokens keyed by the SHA-256 of their secret (never the secret), TOTP secrets, all
// going with their account (ON DELETE CASCADE; account ids are never reused, so a later
// account at the same address inherits nothing). Optional times are NULL ("never"). The
// audit log has no foreign keys, so it outlives what it describes.
const schemaV4 = `
CREATE TABLE web_sessions (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	token_hash   bytea NOT NULL UNIQUE, -- SHA-256 of the cookie secret
	account_id   bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain       text COLLATE "C" NOT NULL,
	auth_hash    bytea NOT NULL,        -- fingerprint of the password hash at sign-in
	created_at   timestamptz NOT NULL,
	last_seen_at timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	remote_addr  text NOT NULL,
	user_agent   text NOT NULL
);
CREATE INDEX web_sessions_by_account ON web_sessions(account_id, id);
CREATE INDEX web_sessions_by_expiry ON web_sessions(expires_at);

CREATE TABLE api_tokens (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	token_hash   bytea NOT NULL UNIQUE, -- SHA-256 of the secret
	account_id   bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain       text COLLATE "C" NOT NULL,
	name         text NOT NULL,
	scopes       text[] NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz,           -- NULL: never
	last_used_at timestamptz            -- NULL: never used
);
CREATE INDEX api_tokens_by_account ON api_tokens(account_id, id);

CREATE TABLE account_totp (
	account_id bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	secret     text NOT NULL,           -- base32, as in otpauth:// URIs
	enabled    boolean NOT NULL,
	last_step  bigint NOT NULL          -- RFC 6238 4.2 T of the last code accepted
);

CREATE TABLE audit_log (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at       timestamptz NOT NULL,
	actor_id bigint NOT NULL,
	actor    text NOT NULL,
	role     text NOT NULL,
	via      text NOT NULL,
	remote   text NOT NULL,
	action   text COLLATE "C" NOT NULL,
	domain   text COLLATE "C" NOT NULL,
	target   text COLLATE "C" NOT NULL,
	detail   text NOT NULL
);
CREATE INDEX audit_log_by_domain ON audit_log(domain, id);
CREATE INDEX audit_log_by_actor ON audit_log(actor_id, id);
`

// migrate applies the missing migrations in one transaction holding migrationLock: a
// node that waits for the lock then sees what the first one committed, so each step runs
// exactly once however many nodes start together. PostgreSQL DDL is transactional, so a
// failed step leaves the database as it was.
func migrate(ctx context.Context, pool *pgxpool.Pool) (err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres directory: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			err = rollbackJoin(tx, err)
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres directory: migration lock: %w", err)
	}
	v, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	steps := migrations()
	switch {
	case len(steps) != SchemaVersion:
		return fmt.Errorf("postgres directory: %d migrations for schema version %d", len(steps), SchemaVersion)
	case v > SchemaVersion:
		return fmt.Errorf("postgres directory: schema version %d is newer than this program's %d", v, SchemaVersion)
	}
	for i := v; i < SchemaVersion; i++ {
		if _, err := tx.Exec(ctx, steps[i]); err != nil {
			return fmt.Errorf("postgres directory: migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, i+1); err != nil {
			return fmt.Errorf("postgres directory: migration %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres directory: migrate: commit: %w", err)
	}
	return nil
}

// schemaVersion returns the applied version, creating the schema and its version table
// when missing (checked first, so a role without CREATE on a migrated database works).
func schemaVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, SchemaName+".schema_migrations").Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres directory: schema version: %w", err)
	}
	if !exists {
		// SchemaName is a constant identifier; DDL takes no bound parameters.
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+SchemaName+`;
			CREATE TABLE `+SchemaName+`.schema_migrations (
				version    integer PRIMARY KEY,
				applied_at timestamptz NOT NULL
			)`); err != nil {
			return 0, fmt.Errorf("postgres directory: create schema: %w", err)
		}
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres directory: schema version: %w", err)
	}
	return v, nil
}

// rollbackJoin rolls tx back and adds a rollback failure to err.
func rollbackJoin(tx pgx.Tx, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	if rerr := tx.Rollback(ctx); rerr != nil && err == nil {
		return rerr
	} else if rerr != nil {
		return fmt.Errorf("%w (rollback: %v)", err, rerr)
	}
	return err
}
