package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	TOTP     string `json:"totp,omitempty"`
}

// apiLogin signs in and starts a session (POST /api/v1/login).
func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var req loginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	a, err := s.signIn(r.Context(), r, req.Login, req.Password, req.TOTP)
	if err != nil {
		return err
	}
	secret, err := s.startSession(r.Context(), w, r, a)
	if err != nil {
		return err
	}
	me, err := s.me(r.Context(), &principal{acct: a, sess: &directory.WebSession{}, secret: secret})
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, me)
	return nil
}

// apiLogout ends the caller's session (POST /api/v1/logout).
func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.auth.DeleteSession(r.Context(), p.acct.ID, p.sess.ID); err != nil && !errors.Is(err, directory.ErrNotFound) {
		return err
	}
	s.setCookie(w, r, "", -1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// loginKey is the per-account rate-limit key of a login name: the address key, so case
// and Unicode variants of one login share a bucket.
func loginKey(login string) string {
	if a, err := mail.Parse(strings.TrimSpace(login)); err == nil {
		return a.Key()
	}
	return strings.ToLower(login)
}

// signIn checks a login under the rate limits, then the sign-in rules, then the second
// factor. The address bucket pays for every attempt; the account bucket pays for failed
// ones only, and an empty account bucket refuses before the password is even checked,
// so guessing stops while the real owner (who rarely fails) is locked out only by an
// ongoing attack on their account.
func (s *Server) signIn(ctx context.Context, r *http.Request, login, password, code string) (directory.Account, error) {
	if ok, after := s.ipLim.allow(ipKey(clientIP(r))); !ok {
		return directory.Account{}, rateLimited(after)
	}
	key := loginKey(login)
	if blocked, after := s.userLim.blocked(key); blocked {
		return directory.Account{}, rateLimited(after)
	}
	a, err := s.dir.Authenticate(ctx, login, password)
	switch {
	case errors.Is(err, directory.ErrAuthFailed):
		s.userLim.allow(key)
		s.log.Info("web: login failed", "login", login, "ip", clientIP(r))
		return a, apiErr(http.StatusUnauthorized, "auth_failed", "wrong login or password")
	case errors.Is(err, directory.ErrDisabled):
		return a, apiErr(http.StatusForbidden, "account_disabled", "the account or its domain is disabled")
	case err != nil:
		return a, err
	}
	d, err := s.dir.Domain(ctx, a.Address.Domain)
	if err != nil {
		return a, err
	}
	if err := signInAllowed(a, d); err != nil {
		return a, err
	}
	if err := s.secondFactor(ctx, a, code); err != nil {
		if ae, ok := err.(*apiError); ok && ae.Code == "totp_invalid" {
			s.userLim.allow(key)
		}
		return a, err
	}
	s.log.Info("web: login", "account", a.Address.String(), "ip", clientIP(r))
	return a, nil
}

func rateLimited(after int) *apiError {
	e := apiErr(http.StatusTooManyRequests, "rate_limited", "too many login attempts; try again later")
	e.RetryAfter = max(after, 1)
	return e
}

// safeNext returns where to go after signing in: next if it is a path on this site,
// else the console. It refuses absolute URLs, scheme-relative "//host" and the "/\host"
// that browsers read as "//host", and anything with control characters, so the login
// page cannot be used as an open redirect.
func safeNext(next string) string {
	const home = "/" // users go on to /mail/, administrators to /console/
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") || strings.Contains(u.Path, "\\") {
		return home
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return home
		}
	}
	return u.RequestURI()
}
