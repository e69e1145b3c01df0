package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"mailgrid/internal/directory"
)

// Web sessions (directory.SessionStore), schema v3 table web_sessions.

var _ directory.WebAuthStore = (*Directory)(nil)

const sessionCols = `id, token_hash, account_id, domain, auth_hash, created_at, last_seen_at, expires_at, remote_addr, user_agent`

func scanSession(s scanner) (directory.WebSession, error) {
	var w directory.WebSession
	var created, seen, expires int64
	err := s.Scan(&w.ID, &w.TokenHash, &w.AccountID, &w.Domain, &w.AuthHash, &created, &seen, &expires,
		&w.RemoteAddr, &w.UserAgent)
	w.CreatedAt, w.LastSeenAt, w.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	return w, err
}

// accountExists fails with ErrNotFound unless account id exists in domain.
func accountExists(ctx context.Context, tx *sql.Tx, id int64, domain string) error {
	var ok bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1 AND domain = $2)`,
		id, domain).Scan(&ok); err != nil {
		return fmt.Errorf("sqlite directory: account %d: %w", id, err)
	}
	if !ok {
		return notFound(fmt.Sprintf("account %d in %q", id, domain))
	}
	return nil
}

// CreateSession stores a new session.
func (d *Directory) CreateSession(ctx context.Context, s directory.WebSession) (directory.WebSession, error) {
	if len(s.TokenHash) == 0 {
		return s, fmt.Errorf("%w: empty session token hash", directory.ErrInvalid)
	}
	err := d.write(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, s.AccountID, s.Domain); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO web_sessions (token_hash, account_id, domain, auth_hash,
			created_at, last_seen_at, expires_at, remote_addr, user_agent)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			s.TokenHash, s.AccountID, s.Domain, nonNil(s.AuthHash), micros(s.CreatedAt), micros(s.LastSeenAt),
			micros(s.ExpiresAt), s.RemoteAddr, s.UserAgent).Scan(&s.ID)
	})
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		err = fmt.Errorf("sqlite directory: create session: %w", err)
	}
	return s, err
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// SessionByToken finds an unexpired session by the hash of its secret.
func (d *Directory) SessionByToken(ctx context.Context, hash []byte, now time.Time) (directory.WebSession, error) {
	s, err := scanSession(d.r.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM web_sessions
		WHERE token_hash = $1 AND expires_at > $2`, hash, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return s, notFound("session")
	}
	if err != nil {
		return s, fmt.Errorf("sqlite directory: session: %w", err)
	}
	return s, nil
}

// TouchSession records activity on a session.
func (d *Directory) TouchSession(ctx context.Context, id int64, lastSeen, expires time.Time) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `UPDATE web_sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1`,
			id, micros(lastSeen), micros(expires)))("session")
	})
}

// affectOne turns an Exec result into ErrNotFound when no row was affected.
func affectOne(res sql.Result, err error) func(what string) error {
	return func(what string) error {
		if err != nil {
			return fmt.Errorf("sqlite directory: %s: %w", what, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite directory: %s: %w", what, err)
		}
		if n == 0 {
			return notFound(what)
		}
		return nil
	}
}

// Sessions lists an account's live sessions, newest first.
func (d *Directory) Sessions(ctx context.Context, accountID int64, now time.Time) ([]directory.WebSession, error) {
	return queryAll(ctx, d.r, scanSession, "sessions", `SELECT `+sessionCols+` FROM web_sessions
		WHERE account_id = $1 AND expires_at > $2 ORDER BY id DESC`, accountID, micros(now))
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), what, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: %s: %w", what, err)
	}
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite directory: %s: %w", what, err), rows.Close())
		}
		out = append(out, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite directory: %s: %w", what, err)
	}
	return out, nil
}

// DeleteSession removes one of an account's sessions.
func (d *Directory) DeleteSession(ctx context.Context, accountID, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE id = $1 AND account_id = $2`, id, accountID))("session")
	})
}

// DeleteSessions removes an account's sessions but exceptID.
func (d *Directory) DeleteSessions(ctx context.Context, accountID, exceptID int64) (int, error) {
	return d.deleteCount(ctx, "sessions", `DELETE FROM web_sessions WHERE account_id = $1 AND id != $2`, accountID, exceptID)
}

// PurgeSessions removes expired sessions.
func (d *Directory) PurgeSessions(ctx context.Context, now time.Time) (int, error) {
	return d.deleteCount(ctx, "purge sessions", `DELETE FROM web_sessions WHERE expires_at <= $1`, micros(now))
}

func (d *Directory) deleteCount(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int64
	err := d.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err == nil {
			n, err = res.RowsAffected()
		}
		if err != nil {
			return fmt.Errorf("sqlite directory: %s: %w", what, err)
		}
		return nil
	})
	return int(n), err
}

// API tokens (directory.APITokenStore), table api_tokens.

const tokenCols = `id, token_hash, account_id, domain, name, scopes, created_at, expires_at, last_used_at`

func scanToken(s scanner) (directory.APIToken, error) {
	var t directory.APIToken
	var scopes string
	var created, expires, used int64
	err := s.Scan(&t.ID, &t.TokenHash, &t.AccountID, &t.Domain, &t.Name, &scopes, &created, &expires, &used)
	t.Scopes, t.CreatedAt = splitServices(scopes), fromMicros(created)
	t.ExpiresAt, t.LastUsedAt = optMicros(expires), optMicros(used)
	return t, err
}

// optMicros is fromMicros with 0 as the zero time ("never").
func optMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

func optToMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// CreateAPIToken stores a new token.
func (d *Directory) CreateAPIToken(ctx context.Context, t directory.APIToken) (directory.APIToken, error) {
	if len(t.TokenHash) == 0 {
		return t, fmt.Errorf("%w: empty token hash", directory.ErrInvalid)
	}
	for _, s := range t.Scopes {
		if s == "" || strings.Contains(s, ",") {
			return t, fmt.Errorf("%w: scope %q", directory.ErrInvalid, s)
		}
	}
	err := d.write(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, t.AccountID, t.Domain); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO api_tokens (token_hash, account_id, domain, name, scopes,
			created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0) RETURNING id`,
			t.TokenHash, t.AccountID, t.Domain, t.Name, strings.Join(t.Scopes, ","), micros(t.CreatedAt),
			optToMicros(t.ExpiresAt)).Scan(&t.ID)
	})
	if err != nil && !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrInvalid) {
		err = fmt.Errorf("sqlite directory: create API token: %w", err)
	}
	return t, err
}

// APITokenByHash finds a live token by the hash of its secret.
func (d *Directory) APITokenByHash(ctx context.Context, hash []byte, now time.Time) (directory.APIToken, error) {
	t, err := scanToken(d.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE token_hash = $1 AND (expires_at = 0 OR expires_at > $2)`, hash, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("API token")
	}
	if err != nil {
		return t, fmt.Errorf("sqlite directory: API token: %w", err)
	}
	return t, nil
}

// APITokens lists an account's tokens, newest first.
func (d *Directory) APITokens(ctx context.Context, accountID int64) ([]directory.APIToken, error) {
	return queryAll(ctx, d.r, scanToken, "API tokens", `SELECT `+tokenCols+` FROM api_tokens
		WHERE account_id = $1 ORDER BY id DESC`, accountID)
}

// DeleteAPIToken removes one of an account's tokens.
func (d *Directory) DeleteAPIToken(ctx context.Context, accountID, id int64) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = $1 AND account_id = $2`, id, accountID))("API token")
	})
}

// TouchAPIToken records a use of a token.
func (d *Directory) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	return d.write(ctx, func(tx *sql.Tx) error {
		return affectOne(tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, id, micros(at)))("API token")
	})
}
