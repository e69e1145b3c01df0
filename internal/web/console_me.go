package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"mailgrid/internal/directory"
)

// Self-service: the caller's password, API tokens, TOTP second factor and sessions. The
// rules are the API's (me.go, totp.go): the same checks, the same audit entries.

func (s *Server) consoleMeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/me", s.consoleGET("me", "My account", s.fillMe))
	mux.HandleFunc("POST /console/me/{op}", s.consolePOST("me", "My account", s.fillMe, s.actMe))
}

func (s *Server) fillMe(r *http.Request, p *principal, d *pageData) error {
	ctx := r.Context()
	d.Nav = "me"
	ss, err := s.auth.Sessions(ctx, p.acct.ID, s.now())
	if err != nil {
		return err
	}
	d.Sessions = listOf(ss, func(ws directory.WebSession) sessionView {
		return sessionView{ID: ws.ID, Current: p.sess != nil && ws.ID == p.sess.ID, CreatedAt: ws.CreatedAt,
			LastSeenAt: ws.LastSeenAt, ExpiresAt: ws.ExpiresAt, RemoteAddr: ws.RemoteAddr, UserAgent: ws.UserAgent}
	}).Items
	ts, err := s.auth.APITokens(ctx, p.acct.ID)
	if err != nil {
		return err
	}
	d.Tokens = listOf(ts, viewToken).Items
	st, err := s.auth.TOTP(ctx, p.acct.ID)
	switch {
	case errors.Is(err, directory.ErrNotFound):
		d.TOTP = totpPage{}
	case err != nil:
		return err
	case st.Enabled:
		d.TOTP = totpPage{Enabled: true}
	case d.TOTP.Pending == nil:
		// A pending secret from an earlier visit: show it again, so enrolment can be
		// finished after a reload.
		d.TOTP.Pending = s.enrolment(p, st.Secret)
	}
	return nil
}

// enrolment is how an authenticator app is given secret (RFC 6238 parameters of totp.go).
func (s *Server) enrolment(p *principal, secret string) *totpEnrolment {
	u := fmt.Sprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=6&period=%d",
		url.PathEscape(s.opt.Hostname), url.PathEscape(p.acct.Address.String()), secret, url.QueryEscape(s.opt.Hostname), totpPeriod)
	return &totpEnrolment{Secret: secret, OTPAuthURL: u}
}

// actMe performs the self-service forms by {op}.
func (s *Server) actMe(w http.ResponseWriter, r *http.Request, p *principal, d *pageData) (string, error) {
	ctx := r.Context()
	sc := s.scoped(r, p)
	who, dom := p.acct.Address.String(), p.acct.Address.Domain
	switch r.PathValue("op") {
	case "password":
		pw := r.PostFormValue("password")
		a, err := sc.UpdateAccount(ctx, dom, p.acct.ID, directory.AccountUpdate{Password: &pw}, r.PostFormValue("current_password"))
		if err != nil {
			return "", err
		}
		// Every session ended with the change (admin.Scoped.UpdateAccount): this browser
		// gets a new one.
		if _, err := s.startSession(ctx, w, r, a); err != nil {
			return "", err
		}
		return "/console/me?done=password-changed", nil
	case "tokens":
		return s.actCreateToken(r, p, d)
	case "token-delete":
		id, err := formID(r)
		if err != nil {
			return "", err
		}
		if err := s.auth.DeleteAPIToken(ctx, p.acct.ID, id); err != nil {
			return "", err
		}
		sc.Record(ctx, "token.delete", dom, who, "token "+strconv.FormatInt(id, 10))
		return "/console/me?done=token-deleted", nil
	case "session-revoke":
		id, err := formID(r)
		if err != nil {
			return "", err
		}
		if err := s.auth.DeleteSession(ctx, p.acct.ID, id); err != nil {
			return "", err
		}
		sc.Record(ctx, "session.revoke", dom, who, "session "+strconv.FormatInt(id, 10))
		if p.sess != nil && id == p.sess.ID {
			s.setCookie(w, r, "", -1)
			return "/login", nil
		}
		return "/console/me?done=session-revoked", nil
	case "totp-start", "totp-confirm", "totp-disable":
		return s.actTOTP(r, p, r.PathValue("op"))
	}
	return "", errNotFound()
}

// actTOTP performs the second-factor forms: start enrolment, confirm it with a code,
// turn it off with the password (the API's rules, totp.go).
func (s *Server) actTOTP(r *http.Request, p *principal, op string) (string, error) {
	ctx := r.Context()
	sc := s.scoped(r, p)
	who, dom := p.acct.Address.String(), p.acct.Address.Domain
	switch op {
	case "totp-start":
		key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opt.Hostname, AccountName: who,
			Period: totpPeriod, SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return "", err
		}
		if err := s.auth.SetTOTP(ctx, p.acct.ID, key.Secret()); err != nil {
			if errors.Is(err, directory.ErrExists) {
				return "", apiErr(http.StatusConflict, "totp_enabled", "two-factor authentication is already on; turn it off first")
			}
			return "", err
		}
		return "/console/me", nil
	case "totp-confirm":
		st, err := s.auth.TOTP(ctx, p.acct.ID)
		if errors.Is(err, directory.ErrNotFound) || err == nil && st.Enabled {
			return "", apiErr(http.StatusConflict, "totp_not_pending", "set up an authenticator first")
		}
		if err != nil {
			return "", err
		}
		step, ok := totpStep(st.Secret, r.PostFormValue("code"), s.now())
		if !ok {
			return "", apiErr(http.StatusBadRequest, "totp_invalid", "wrong code")
		}
		if err := s.auth.EnableTOTP(ctx, p.acct.ID, step); err != nil {
			return "", err
		}
		sc.Record(ctx, "totp.enable", dom, who, "")
		return "/console/me?done=totp-enabled", nil
	case "totp-disable":
		if err := s.confirmPassword(r, p, r.PostFormValue("current_password")); err != nil {
			return "", err
		}
		if err := s.auth.DeleteTOTP(ctx, p.acct.ID); err != nil && !errors.Is(err, directory.ErrNotFound) {
			return "", err
		}
		sc.Record(ctx, "totp.disable", dom, who, "")
		return "/console/me?done=totp-disabled", nil
	}
	return "", errNotFound()
}

// actCreateToken creates an API token and renders the page with its secret, shown once.
func (s *Server) actCreateToken(r *http.Request, p *principal, d *pageData) (string, error) {
	days, err := parseCount("expires_in_days", r.PostFormValue("expires_in_days"))
	if err != nil {
		return "", err
	}
	req := newToken{Name: r.PostFormValue("name"), Scopes: r.PostForm["scope"], ExpiresInDays: days}
	if err := checkNewToken(&req, p.acct.Role); err != nil {
		return "", err
	}
	secret, err := newSecret(tokenPrefix)
	if err != nil {
		return "", err
	}
	now := s.now()
	t := directory.APIToken{TokenHash: hashSecret(secret), AccountID: p.acct.ID, Domain: p.acct.Address.Domain,
		Name: req.Name, Scopes: req.Scopes, CreatedAt: now}
	if req.ExpiresInDays > 0 {
		t.ExpiresAt = now.Add(time.Duration(req.ExpiresInDays) * 24 * time.Hour)
	}
	if t, err = s.auth.CreateAPIToken(r.Context(), t); err != nil {
		return "", err
	}
	s.scoped(r, p).Record(r.Context(), "token.create", p.acct.Address.Domain, p.acct.Address.String(),
		fmt.Sprintf("token %d %q scopes=%v", t.ID, t.Name, t.Scopes))
	v := viewToken(t)
	v.Token = secret
	d.NewToken = &v
	return "", nil
}

// formID reads the form's "id" field.
func formID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound()
	}
	return id, nil
}
