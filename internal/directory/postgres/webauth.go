package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// Web credentials (directory.WebAuthStore), schema v4 tables web_sessions, api_tokens and
// account_totp. Every mutation is one statement (its own transaction, committed durably
// when it returns); the account's existence is checked by the foreign key itself, so a
// concurrent DeleteAccount cannot leave an orphan: the insert either sees the account and
// holds its key share lock, or fails (23503, reported as ErrNotFound).

var _ directory.WebAuthStore = (*Directory)(nil)

// exec runs one mutating statement on the pool, re-running it after a deadlock or
// serialization failure, and returns how many rows it affected.
func (d *Directory) exec(ctx context.Context, what, sql string, args ...any) (int64, error) {
	var err error
	for range txRetries {
		tag, e := d.pool.Exec(ctx, sql, args...)
		if err = e; err == nil {
			return tag.RowsAffected(), nil
		}
		if !retryable(err) {
			break
		}
	}
	return 0, fmt.Errorf("postgres directory: %s: %w", what, err)
}

// execOne is exec that wants exactly one row affected: ErrNotFound otherwise.
func (d *Directory) execOne(ctx context.Context, what, sql string, args ...any) error {
	n, err := d.exec(ctx, what, sql, args...)
	if err == nil && n == 0 {
		return notFound(what)
	}
	return err
}

// insertID runs an INSERT ... RETURNING id for an account's credential. A missing
// account (or one of another domain: the SELECT yields no row) is ErrNotFound; a token
// hash already stored is ErrExists.
func (d *Directory) insertID(ctx context.Context, what, sql string, args ...any) (int64, error) {
	var id int64
	var err error
	for range txRetries {
		if err = d.pool.QueryRow(ctx, sql, args...).Scan(&id); !retryable(err) {
			break
		}
	}
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, pgx.ErrNoRows), pgCode(err) == codeForeignKeyViolation:
		return 0, notFound(what + ": no such account")
	case pgCode(err) == codeUniqueViolation:
		return 0, fmt.Errorf("%w: %s: token hash already stored", directory.ErrExists, what)
	}
	return 0, fmt.Errorf("postgres directory: %s: %w", what, err)
}

// nonNil stores a nil byte slice as an empty bytea rather than NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// optTime maps the zero time ("never") to NULL.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromOpt maps NULL back to the zero time; times are returned in UTC.
func fromOpt(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

const sessionCols = `id, token_hash, account_id, domain, auth_hash, created_at, last_seen_at, expires_at, remote_addr, user_agent`

func scanSession(row pgx.Row) (directory.WebSession, error) {
	var w directory.WebSession
	err := row.Scan(&w.ID, &w.TokenHash, &w.AccountID, &w.Domain, &w.AuthHash, &w.CreatedAt, &w.LastSeenAt,
		&w.ExpiresAt, &w.RemoteAddr, &w.UserAgent)
	w.CreatedAt, w.LastSeenAt, w.ExpiresAt = w.CreatedAt.UTC(), w.LastSeenAt.UTC(), w.ExpiresAt.UTC()
	return w, err
}

// CreateSession stores a new session for an existing account of s.Domain.
func (d *Directory) CreateSession(ctx context.Context, s directory.WebSession) (directory.WebSession, error) {
	if len(s.TokenHash) == 0 {
		return s, fmt.Errorf("%w: empty session token hash", directory.ErrInvalid)
	}
	var err error
	s.ID, err = d.insertID(ctx, "create session", `INSERT INTO web_sessions (token_hash, account_id, domain,
		auth_hash, created_at, last_seen_at, expires_at, remote_addr, user_agent)
		SELECT $1::bytea, a.id, a.domain, $4::bytea, $5::timestamptz, $6::timestamptz, $7::timestamptz,
			$8::text, $9::text FROM accounts a WHERE a.id = $2 AND a.domain = $3
		RETURNING id`,
		s.TokenHash, s.AccountID, s.Domain, nonNil(s.AuthHash), s.CreatedAt, s.LastSeenAt, s.ExpiresAt,
		s.RemoteAddr, s.UserAgent)
	return s, err
}

// SessionByToken finds an unexpired session by the hash of its secret.
func (d *Directory) SessionByToken(ctx context.Context, hash []byte, now time.Time) (directory.WebSession, error) {
	s, err := scanSession(d.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM web_sessions
		WHERE token_hash = $1 AND expires_at > $2`, hash, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound("session")
	}
	if err != nil {
		return s, fmt.Errorf("postgres directory: session: %w", err)
	}
	return s, nil
}

// TouchSession records activity on a session.
func (d *Directory) TouchSession(ctx context.Context, id int64, lastSeen, expires time.Time) error {
	return d.execOne(ctx, "session", `UPDATE web_sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1`,
		id, lastSeen, expires)
}

// Sessions lists an account's live sessions, newest first.
func (d *Directory) Sessions(ctx context.Context, accountID int64, now time.Time) ([]directory.WebSession, error) {
	return queryAll(ctx, d.pool, scanSession, "sessions", `SELECT `+sessionCols+` FROM web_sessions
		WHERE account_id = $1 AND expires_at > $2 ORDER BY id DESC`, accountID, now)
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(pgx.Row) (T, error), what, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres directory: %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres directory: %s: %w", what, err)
	}
	return out, nil
}

// DeleteSession removes one of an account's sessions.
func (d *Directory) DeleteSession(ctx context.Context, accountID, id int64) error {
	return d.execOne(ctx, "session", `DELETE FROM web_sessions WHERE id = $1 AND account_id = $2`, id, accountID)
}

// DeleteSessions removes an account's sessions but exceptID.
func (d *Directory) DeleteSessions(ctx context.Context, accountID, exceptID int64) (int, error) {
	n, err := d.exec(ctx, "delete sessions", `DELETE FROM web_sessions WHERE account_id = $1 AND id <> $2`,
		accountID, exceptID)
	return int(n), err
}

// PurgeSessions removes the sessions expired at or before now.
func (d *Directory) PurgeSessions(ctx context.Context, now time.Time) (int, error) {
	n, err := d.exec(ctx, "purge sessions", `DELETE FROM web_sessions WHERE expires_at <= $1`, now)
	return int(n), err
}

// API tokens (directory.APITokenStore), table api_tokens.

const tokenCols = `id, token_hash, account_id, domain, name, scopes, created_at, expires_at, last_used_at`

func scanToken(row pgx.Row) (directory.APIToken, error) {
	var t directory.APIToken
	var expires, used *time.Time
	err := row.Scan(&t.ID, &t.TokenHash, &t.AccountID, &t.Domain, &t.Name, &t.Scopes, &t.CreatedAt, &expires, &used)
	t.Scopes, t.CreatedAt = nilIfEmpty(t.Scopes), t.CreatedAt.UTC()
	t.ExpiresAt, t.LastUsedAt = fromOpt(expires), fromOpt(used)
	return t, err
}

// CreateAPIToken stores a new token for an existing account of t.Domain. Scopes are
// non-empty and free of commas, as in the SQLite driver (which joins them with commas),
// so a token means the same on both.
func (d *Directory) CreateAPIToken(ctx context.Context, t directory.APIToken) (directory.APIToken, error) {
	if len(t.TokenHash) == 0 {
		return t, fmt.Errorf("%w: empty token hash", directory.ErrInvalid)
	}
	for _, s := range t.Scopes {
		if s == "" || strings.Contains(s, ",") {
			return t, fmt.Errorf("%w: scope %q", directory.ErrInvalid, s)
		}
	}
	var err error
	t.ID, err = d.insertID(ctx, "create API token", `INSERT INTO api_tokens (token_hash, account_id, domain, name,
		scopes, created_at, expires_at)
		SELECT $1::bytea, a.id, a.domain, $4::text, $5::text[], $6::timestamptz, $7::timestamptz
		FROM accounts a WHERE a.id = $2 AND a.domain = $3
		RETURNING id`,
		t.TokenHash, t.AccountID, t.Domain, t.Name, orEmpty(t.Scopes), t.CreatedAt, optTime(t.ExpiresAt))
	return t, err
}

// APITokenByHash finds a live token by the hash of its secret.
func (d *Directory) APITokenByHash(ctx context.Context, hash []byte, now time.Time) (directory.APIToken, error) {
	t, err := scanToken(d.pool.QueryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)`, hash, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, notFound("API token")
	}
	if err != nil {
		return t, fmt.Errorf("postgres directory: API token: %w", err)
	}
	return t, nil
}

// APITokens lists an account's tokens, expired ones too, newest first.
func (d *Directory) APITokens(ctx context.Context, accountID int64) ([]directory.APIToken, error) {
	return queryAll(ctx, d.pool, scanToken, "API tokens", `SELECT `+tokenCols+` FROM api_tokens
		WHERE account_id = $1 ORDER BY id DESC`, accountID)
}

// DeleteAPIToken removes one of an account's tokens.
func (d *Directory) DeleteAPIToken(ctx context.Context, accountID, id int64) error {
	return d.execOne(ctx, "API token", `DELETE FROM api_tokens WHERE id = $1 AND account_id = $2`, id, accountID)
}

// TouchAPIToken records a use of a token.
func (d *Directory) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	return d.execOne(ctx, "API token", `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, id, at)
}
