package directory

// Web credentials: the optional add-ons a driver offers so that the web front-end can keep
// signed-in browser sessions, per-account API tokens and TOTP second factors next to the
// accounts they belong to (every node of a cluster sees the same ones).
//
// Model:
//   - A session or an API token is a random secret handed to the client once. The driver
//     stores only its SHA-256 (TokenHash); a copy of the database does not let anyone sign
//     in. Lookups are by that hash. Each row also has a small public ID, used to list and
//     revoke it; the ID is never a credential.
//   - Both belong to one account (AccountID, never reused, in Domain, its tenant) and go with
//     it when the account is deleted.
//   - A session expires at ExpiresAt, which the front-end moves forward on activity (idle
//     timeout) but never past its absolute lifetime. AuthHash is a fingerprint of the
//     account's password hash at sign-in: a password changed by any path (API, CLI, another
//     node) no longer matches it, so the front-end drops the session.
//   - A TOTP secret (RFC 6238) is stored as its base32 text: a verifier needs it in clear,
//     as every TOTP server does. It is pending until the user proves one code (Enabled),
//     and LastStep makes each time step usable once (RFC 6238 5.2: no replay).
//
// The interfaces are found by type assertion on a Directory (the go-smtp "optional add-on"
// habit); a driver without them cannot serve the web front-end. Both the SQLite and the
// PostgreSQL drivers have them.

import (
	"context"
	"time"
)

// WebSession is one signed-in browser session.
type WebSession struct {
	ID         int64  // public handle (list, revoke); not a credential
	TokenHash  []byte // SHA-256 of the cookie secret
	AccountID  int64
	Domain     string // the account's domain, for AccountByID
	AuthHash   []byte // fingerprint of the password hash at sign-in
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	RemoteAddr string // where it signed in from, for the user's session list
	UserAgent  string
}

// SessionStore keeps web sessions. Every method is safe for concurrent use and has
// durably committed its change when it returns nil.
type SessionStore interface {
	// CreateSession stores s (ID and times as given, except ID, which it assigns) and
	// returns it with its ID. ErrNotFound when the account does not exist.
	CreateSession(ctx context.Context, s WebSession) (WebSession, error)
	// SessionByToken returns the session whose TokenHash is hash and whose ExpiresAt is
	// after now. ErrNotFound otherwise.
	SessionByToken(ctx context.Context, hash []byte, now time.Time) (WebSession, error)
	// TouchSession records activity: it sets LastSeenAt and ExpiresAt of session id.
	// ErrNotFound when the session is gone.
	TouchSession(ctx context.Context, id int64, lastSeen, expires time.Time) error
	// Sessions lists an account's sessions that expire after now, newest first.
	Sessions(ctx context.Context, accountID int64, now time.Time) ([]WebSession, error)
	// DeleteSession removes session id of accountID. ErrNotFound when the account has no
	// such session (another account's ID is not found, never deleted).
	DeleteSession(ctx context.Context, accountID, id int64) error
	// DeleteSessions removes every session of accountID except exceptID (0: none kept)
	// and returns how many it removed.
	DeleteSessions(ctx context.Context, accountID, exceptID int64) (int, error)
	// PurgeSessions removes the sessions that expired at or before now.
	PurgeSessions(ctx context.Context, now time.Time) (int, error)
}

// APIToken is one bearer token of the JSON API.
type APIToken struct {
	ID         int64  // public handle; not a credential
	TokenHash  []byte // SHA-256 of the secret
	AccountID  int64
	Domain     string
	Name       string   // the owner's label
	Scopes     []string // sorted; what the token may be used for (the front-end defines them)
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
}

// APITokenStore keeps API tokens; the same rules as SessionStore.
type APITokenStore interface {
	// CreateAPIToken stores t and returns it with its ID. ErrNotFound for an unknown
	// account.
	CreateAPIToken(ctx context.Context, t APIToken) (APIToken, error)
	// APITokenByHash returns the token whose TokenHash is hash and which has not expired
	// at now. ErrNotFound otherwise.
	APITokenByHash(ctx context.Context, hash []byte, now time.Time) (APIToken, error)
	// APITokens lists an account's tokens (expired ones too), newest first.
	APITokens(ctx context.Context, accountID int64) ([]APIToken, error)
	// DeleteAPIToken removes token id of accountID; ErrNotFound when it has none such.
	DeleteAPIToken(ctx context.Context, accountID, id int64) error
	// TouchAPIToken sets LastUsedAt.
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error
}

// TOTPState is an account's TOTP second factor.
type TOTPState struct {
	Secret   string // base32 (RFC 4648), as in otpauth:// URIs
	Enabled  bool   // false: enrolment pending until a code is confirmed
	LastStep int64  // the last time step accepted (RFC 6238 4.2, T), 0 when none
}

// TOTPStore keeps TOTP secrets.
type TOTPStore interface {
	// TOTP returns an account's state; ErrNotFound when it has none.
	TOTP(ctx context.Context, accountID int64) (TOTPState, error)
	// SetTOTP stores a pending (not Enabled) secret, replacing a pending one. ErrExists
	// when the account already has an enabled secret (remove it first).
	SetTOTP(ctx context.Context, accountID int64, secret string) error
	// EnableTOTP marks the pending secret enabled and records step as used. ErrNotFound
	// without a pending secret.
	EnableTOTP(ctx context.Context, accountID int64, step int64) error
	// UseTOTPStep records step as used if it is later than the last one used and reports
	// whether it was (false: a replay). One transaction: two concurrent logins with the
	// same code cannot both succeed.
	UseTOTPStep(ctx context.Context, accountID int64, step int64) (bool, error)
	// DeleteTOTP removes the account's secret (pending or enabled). ErrNotFound when none.
	DeleteTOTP(ctx context.Context, accountID int64) error
}

// WebAuthStore is every web credential add-on; the web front-end needs all of them.
type WebAuthStore interface {
	SessionStore
	APITokenStore
	TOTPStore
}
