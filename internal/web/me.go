package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"mailgrid/internal/directory"
)

// The caller's own account: who am I, my sessions, my API tokens (TOTP is in totp.go).

type meView struct {
	Account     accountView `json:"account"`
	TOTPEnabled bool        `json:"totp_enabled"`
	Auth        string      `json:"auth"`             // "session" or "token"
	Scopes      []string    `json:"scopes,omitempty"` // a token's scopes
	CSRFToken   string      `json:"csrf_token,omitempty"`
}

func (s *Server) me(ctx context.Context, p *principal) (meView, error) {
	v := meView{Account: viewAccount(p.acct), Auth: "session", CSRFToken: p.csrf()}
	if p.token != nil {
		v.Auth, v.Scopes = "token", nonNilStrings(p.token.Scopes)
	}
	st, err := s.auth.TOTP(ctx, p.acct.ID)
	if err != nil && !errors.Is(err, directory.ErrNotFound) {
		return v, err
	}
	v.TOTPEnabled = err == nil && st.Enabled
	return v, nil
}

// apiMe answers who the caller is (GET /api/v1/me).
func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := s.me(r.Context(), p)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, v)
	return nil
}

// apiSessions lists the caller's sessions (GET /api/v1/me/sessions).
func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request, p *principal) error {
	ss, err := s.auth.Sessions(r.Context(), p.acct.ID, s.now())
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(ss, func(ws directory.WebSession) sessionView {
		return sessionView{ID: ws.ID, Current: ws.ID == p.sess.ID, CreatedAt: ws.CreatedAt, LastSeenAt: ws.LastSeenAt,
			ExpiresAt: ws.ExpiresAt, RemoteAddr: ws.RemoteAddr, UserAgent: ws.UserAgent}
	}))
	return nil
}

// apiDeleteSession revokes one of the caller's sessions (DELETE /api/v1/me/sessions/{id}).
func (s *Server) apiDeleteSession(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.auth.DeleteSession(r.Context(), p.acct.ID, id); err != nil {
		return err
	}
	if id == p.sess.ID {
		s.setCookie(w, r, "", -1)
	}
	s.scoped(r, p).Record(r.Context(), "session.revoke", p.acct.Address.Domain, p.acct.Address.String(), "session "+strconv.FormatInt(id, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiTokens lists the caller's API tokens, never their secrets (GET /api/v1/me/tokens).
func (s *Server) apiTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	ts, err := s.auth.APITokens(r.Context(), p.acct.ID)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(ts, viewToken))
	return nil
}

type newToken struct {
	Name          string   `json:"name"`
	Scopes        []string `json:"scopes"`
	ExpiresInDays int      `json:"expires_in_days,omitempty"` // 0: never
}

// maxTokenName bounds a token's label.
const maxTokenName = 100

// checkNewToken validates a token request against the caller's role: a user's token can
// only read its own account; an administrator's may read or change what its role allows.
func checkNewToken(req *newToken, role directory.Role) error {
	if req.Name == "" || len(req.Name) > maxTokenName {
		return apiErr(http.StatusBadRequest, "invalid", "name: 1 to %d bytes", maxTokenName)
	}
	if len(req.Scopes) == 0 {
		return apiErr(http.StatusBadRequest, "invalid", "scopes: at least one of %v", Scopes())
	}
	if req.ExpiresInDays < 0 || req.ExpiresInDays > 3650 {
		return apiErr(http.StatusBadRequest, "invalid", "expires_in_days: 0 (never) to 3650")
	}
	slices.Sort(req.Scopes)
	req.Scopes = slices.Compact(req.Scopes)
	for _, sc := range req.Scopes {
		if !slices.Contains(Scopes(), sc) {
			return apiErr(http.StatusBadRequest, "invalid", "scope %q: want one of %v", sc, Scopes())
		}
		if role == directory.RoleUser && sc != ScopeSelfRead && sc != ScopeMail {
			return apiErr(http.StatusForbidden, "forbidden", "scope %s needs an administrator", sc)
		}
	}
	return nil
}

// apiCreateToken creates an API token; its secret is in this answer only
// (POST /api/v1/me/tokens).
func (s *Server) apiCreateToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req newToken
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := checkNewToken(&req, p.acct.Role); err != nil {
		return err
	}
	secret, err := newSecret(tokenPrefix)
	if err != nil {
		return err
	}
	now := s.now()
	t := directory.APIToken{TokenHash: hashSecret(secret), AccountID: p.acct.ID, Domain: p.acct.Address.Domain,
		Name: req.Name, Scopes: req.Scopes, CreatedAt: now}
	if req.ExpiresInDays > 0 {
		t.ExpiresAt = now.Add(time.Duration(req.ExpiresInDays) * 24 * time.Hour)
	}
	if t, err = s.auth.CreateAPIToken(r.Context(), t); err != nil {
		return err
	}
	s.scoped(r, p).Record(r.Context(), "token.create", p.acct.Address.Domain, p.acct.Address.String(),
		fmt.Sprintf("token %d %q scopes=%v", t.ID, t.Name, t.Scopes))
	v := viewToken(t)
	v.Token = secret
	s.writeJSON(w, http.StatusCreated, v)
	return nil
}

// apiDeleteToken revokes one of the caller's tokens (DELETE /api/v1/me/tokens/{id}).
func (s *Server) apiDeleteToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.auth.DeleteAPIToken(r.Context(), p.acct.ID, id); err != nil {
		return err
	}
	s.scoped(r, p).Record(r.Context(), "token.delete", p.acct.Address.Domain, p.acct.Address.String(), "token "+strconv.FormatInt(id, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}
