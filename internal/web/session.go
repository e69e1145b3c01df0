package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"mailgrid/internal/directory"
)

// Cookie names: the "__Host-" prefix (RFC 6265bis 4.1.3.2) makes browsers refuse the
// cookie unless it is Secure, host-only and Path=/, so a sibling subdomain cannot plant
// one; it needs TLS, so plain HTTP (a local test install) uses the bare name.
const (
	cookieTLS   = "__Host-mg_session"
	cookiePlain = "mg_session"
	csrfHeader  = "X-CSRF-Token"
	csrfField   = "csrf_token"
	tokenPrefix = "mgt_" // API tokens, so secret scanners and people recognise them
)

// touchEvery bounds how often a session's activity is written (one write per minute of
// activity rather than one per request).
const touchEvery = time.Minute

// newSecret returns prefix and 256 random bits, base64url.
func newSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("web: random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret is what the directory stores of a secret.
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// csrfToken derives a session's CSRF token from its cookie secret (a different hash from
// hashSecret, so neither the database nor the page reveals the other).
func csrfToken(secret string) string {
	h := sha256.Sum256([]byte("mailgrid csrf v1\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// authFingerprint binds a session to the password hash it signed in with.
func authFingerprint(passwordHash string) []byte {
	h := sha256.Sum256([]byte("mailgrid session v1\x00" + passwordHash))
	return h[:16]
}

func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.opt.SecureCookies }

func (s *Server) cookieName(r *http.Request) string {
	if s.secure(r) {
		return cookieTLS
	}
	return cookiePlain
}

// sessionSecret is the session cookie's value, "" when there is none.
func (s *Server) sessionSecret(r *http.Request) string {
	c, err := r.Cookie(s.cookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(r), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

// startSession signs a in: it revokes the session the request brought, if any (a fresh
// secret at every login: no fixation), creates a new one and sets its cookie. It returns
// the new secret.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, a directory.Account) (string, error) {
	if old := s.sessionSecret(r); old != "" {
		if ws, err := s.auth.SessionByToken(ctx, hashSecret(old), s.now()); err == nil {
			if err := s.auth.DeleteSession(ctx, ws.AccountID, ws.ID); err != nil && !errors.Is(err, directory.ErrNotFound) {
				return "", err
			}
		}
	}
	secret, err := newSecret("")
	if err != nil {
		return "", err
	}
	now := s.now()
	if _, err := s.auth.CreateSession(ctx, directory.WebSession{
		TokenHash: hashSecret(secret), AccountID: a.ID, Domain: a.Address.Domain,
		AuthHash: authFingerprint(a.PasswordHash), CreatedAt: now, LastSeenAt: now,
		ExpiresAt:  now.Add(min(s.opt.SessionIdle, s.opt.SessionLifetime)),
		RemoteAddr: clientIP(r), UserAgent: truncate(r.UserAgent(), 200),
	}); err != nil {
		return "", err
	}
	s.setCookie(w, r, secret, 0)
	s.purgeSometimes(ctx)
	return secret, nil
}

// purgeSometimes removes expired sessions at most every few minutes, riding on logins
// (no background goroutine to stop).
func (s *Server) purgeSometimes(ctx context.Context) {
	now := s.now()
	s.mu.Lock()
	due := now.Sub(s.lastPurge) > 5*time.Minute
	if due {
		s.lastPurge = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if _, err := s.auth.PurgeSessions(ctx, now); err != nil {
		s.log.Warn("web: purge sessions", "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// principal is the authenticated caller of one request.
type principal struct {
	acct   directory.Account
	dom    directory.Domain
	sess   *directory.WebSession // set for a cookie session
	secret string                // the session's cookie secret
	token  *directory.APIToken   // set for a bearer token
}

// csrf is the session's CSRF token ("" for bearer callers).
func (p *principal) csrf() string {
	if p.sess == nil {
		return ""
	}
	return csrfToken(p.secret)
}

// authenticate identifies the caller: by the Authorization header alone when present,
// else by the session cookie. It returns nil, nil for a request with neither.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		return s.bearer(r.Context(), h)
	}
	secret := s.sessionSecret(r)
	if secret == "" {
		return nil, nil
	}
	return s.session(r.Context(), secret)
}

func (s *Server) session(ctx context.Context, secret string) (*principal, error) {
	now := s.now()
	ws, err := s.auth.SessionByToken(ctx, hashSecret(secret), now)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, apiErr(http.StatusUnauthorized, "session_expired", "the session has ended; sign in again")
	}
	if err != nil {
		return nil, err
	}
	p := &principal{sess: &ws, secret: secret}
	if p.acct, p.dom, err = s.liveAccount(ctx, ws.Domain, ws.AccountID); err == nil &&
		subtle.ConstantTimeCompare(authFingerprint(p.acct.PasswordHash), ws.AuthHash) != 1 {
		err = apiErr(http.StatusUnauthorized, "session_expired", "the password changed; sign in again")
	}
	var ae *apiError
	if errors.As(err, &ae) { // the credential is void; other errors may pass
		if derr := s.auth.DeleteSession(ctx, ws.AccountID, ws.ID); derr != nil && !errors.Is(derr, directory.ErrNotFound) {
			s.log.Warn("web: drop session", "err", derr)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if now.Sub(ws.LastSeenAt) >= touchEvery {
		exp := now.Add(s.opt.SessionIdle)
		if end := ws.CreatedAt.Add(s.opt.SessionLifetime); end.Before(exp) {
			exp = end
		}
		if err := s.auth.TouchSession(ctx, ws.ID, now, exp); err != nil {
			s.log.Warn("web: touch session", "err", err)
		}
	}
	return p, nil
}

func (s *Server) bearer(ctx context.Context, h string) (*principal, error) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(tok, tokenPrefix) {
		return nil, apiErr(http.StatusUnauthorized, "bad_token", "Authorization must be \"Bearer mgt_...\" (RFC 6750)")
	}
	now := s.now()
	t, err := s.auth.APITokenByHash(ctx, hashSecret(tok), now)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, apiErr(http.StatusUnauthorized, "bad_token", "unknown, revoked or expired token")
	}
	if err != nil {
		return nil, err
	}
	p := &principal{token: &t}
	if p.acct, p.dom, err = s.liveAccount(ctx, t.Domain, t.AccountID); err != nil {
		return nil, err
	}
	if now.Sub(t.LastUsedAt) >= touchEvery {
		if err := s.auth.TouchAPIToken(ctx, t.ID, now); err != nil {
			s.log.Warn("web: touch token", "err", err)
		}
	}
	return p, nil
}

// liveAccount reads the caller's account and domain as they are now: gone, disabled or
// (for a user) without webmail, the credential no longer works.
func (s *Server) liveAccount(ctx context.Context, domain string, id int64) (directory.Account, directory.Domain, error) {
	a, err := s.dir.AccountByID(ctx, domain, id)
	if errors.Is(err, directory.ErrNotFound) {
		return a, directory.Domain{}, errUnauthenticated()
	}
	if err != nil {
		return a, directory.Domain{}, err
	}
	d, err := s.dir.Domain(ctx, domain)
	if err != nil {
		return a, d, err
	}
	if err := signInAllowed(a, d); err != nil {
		return a, d, err
	}
	return a, d, nil
}

// signInAllowed applies the sign-in rules of the package doc.
func signInAllowed(a directory.Account, d directory.Domain) error {
	if !a.Enabled || !d.Enabled {
		return apiErr(http.StatusForbidden, "account_disabled", "the account or its domain is disabled")
	}
	if a.Role == directory.RoleUser && !directory.ServiceAllowed(d, a, directory.ServiceWebmail) {
		return apiErr(http.StatusForbidden, "service_disabled", "webmail is disabled for this account")
	}
	return nil
}

// checkCSRF verifies a session's unsafe request carries its token.
func checkCSRF(r *http.Request, p *principal) error {
	if p.sess == nil || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return nil
	}
	got := r.Header.Get(csrfHeader)
	if got == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		got = r.PostFormValue(csrfField)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf())) != 1 {
		return apiErr(http.StatusForbidden, "csrf", "missing or wrong CSRF token (send the session's token in %s)", csrfHeader)
	}
	return nil
}
