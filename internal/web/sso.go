package web

// Single sign-on from an operator's portal: a one-time login link signed with the
// domain's shared secret (directory.SSOSecretStore, set by admin.Scoped.SSOSecret).
//
// Link (docs/webmail.md "Single sign-on"):
//
//	GET /sso?user=ADDRESS&ts=UNIX_SECONDS&nonce=NONCE&sig=HEX
//	sig = hex(HMAC-SHA256(key = the domain's secret,
//	                      msg = "mailgrid-sso-v1\n" + user + "\n" + ts + "\n" + nonce))
//
// user, ts and nonce enter the MAC exactly as the query carries them (after URL
// decoding); the HMAC (RFC 2104, SHA-256) is compared in constant time (hmac.Equal).
// The secret is the domain of user's: a link naming another domain's user is checked
// with that domain's secret, so one tenant's portal cannot sign in another's users.
//
// Rules, in order: every field present and well-formed (nonce 16 to 128 of
// A-Z a-z 0-9 - _); the domain has a secret; the signature is right; ts is at most
// ssoValidity old and at most ssoSkew in the future; the nonce was never used (recorded
// in the directory until the link would expire: one use, on any node); the account
// exists, is enabled, its domain is enabled and it may use webmail (signInAllowed).
// Only then is a session started, exactly as a password login does (a fresh secret, the
// brought session revoked). Signature and age are checked before the nonce is recorded,
// so nobody can burn a portal's nonces with forged links. Every attempt pays the client
// address's login bucket, as a password login does.
//
// Second factor: an SSO link signs the user in without TOTP. The portal is trusted as the
// identity provider (it authenticated the user, with its own second factor if it has
// one), as Roundcube's and SOGo's SSO plugins do; an operator who does not trust its
// portal that far gives the domain no secret (then links are refused).
//
// Cookies: the session cookie is SameSite=Strict, which a browser withholds from the
// rest of a redirect chain begun on another site (the portal). So /sso answers a small
// same-origin page that moves on to /mail/ (meta refresh and a link); that navigation
// starts on our site and carries the cookie.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// SSO link timing.
const (
	ssoValidity = 60 * time.Second // how old a link may be
	ssoSkew     = 60 * time.Second // how far in the future ts may be (portal clock ahead)
)

// ssoContext starts the MAC's message: a version, so a later format cannot be confused
// with this one.
const ssoContext = "mailgrid-sso-v1"

var ssoNonce = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// SSOSignature is the sig of a link for user, ts and nonce under secret (the portal's
// side; the server verifies with the same function).
func SSOSignature(secret, user, ts, nonce string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ssoContext + "\n" + user + "\n" + ts + "\n" + nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// ssoRefusal is a refused link: its status and the text shown.
type ssoRefusal struct {
	status int
	msg    string
}

func (e *ssoRefusal) Error() string { return e.msg }

func ssoRefused(msg string) error { return &ssoRefusal{status: http.StatusForbidden, msg: msg} }

// ssoPages mounts GET /sso and the console's page of a domain's secret (sso_console.go).
func (s *Server) ssoPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /sso", s.ssoLogin)
	s.ssoConsole(mux)
}

// ssoRefusedPage is a refused link's answer: a page (not plain text) with its reason.
var ssoRefusedPage = template.Must(template.New("sso-refused").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Sign-in link refused</title></head>
<body><h1>Sign-in link refused</h1><p id="sso-error">{{.}}</p><p><a href="/login">Sign in with your password</a></p></body></html>
`))

var ssoContinue = template.Must(template.New("sso").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/mail/"><link rel="icon" href="data:,">
<title>Signing in</title></head>
<body><p>Signed in. <a href="/mail/">Continue to your mail</a>.</p></body></html>
`))

// ssoLogin checks a link and signs its user in.
func (s *Server) ssoLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if ok, after := s.ipLim.allow(ipKey(clientIP(r))); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(after, 1)))
		http.Error(w, "Too many sign-in attempts; try again later.", http.StatusTooManyRequests)
		return
	}
	a, err := s.checkSSO(r)
	if err == nil {
		_, err = s.startSession(r.Context(), w, r, a)
	}
	var ref *ssoRefusal
	switch {
	case errors.As(err, &ref):
		s.log.Info("web: sso refused", "user", r.URL.Query().Get("user"), "ip", clientIP(r), "why", ref.msg)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(ref.status)
		if err := ssoRefusedPage.Execute(w, ref.msg); err != nil {
			s.log.Debug("web: sso page", "err", err)
		}
		return
	case err != nil:
		s.log.Error("web: sso", "err", err)
		http.Error(w, "Sign-in is not available right now; try again in a moment.", http.StatusServiceUnavailable)
		return
	}
	s.log.Info("web: sso login", "account", a.Address.String(), "ip", clientIP(r))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := ssoContinue.Execute(w, nil); err != nil {
		s.log.Debug("web: sso page", "err", err)
	}
}

// checkSSO applies the rules of the file comment and returns the account to sign in.
// An *ssoRefusal is the user's fault; any other error is the infrastructure's.
func (s *Server) checkSSO(r *http.Request) (directory.Account, error) {
	q := r.URL.Query()
	user, ts, nonce, sig := q.Get("user"), q.Get("ts"), q.Get("nonce"), q.Get("sig")
	addr, aerr := mail.Parse(user)
	sec, terr := strconv.ParseInt(ts, 10, 64)
	if aerr != nil || terr != nil || !ssoNonce.MatchString(nonce) || len(sig) != 2*sha256.Size {
		return directory.Account{}, &ssoRefusal{status: http.StatusBadRequest,
			msg: "This sign-in link is malformed (it needs user, ts, nonce and sig; see the webmail documentation)."}
	}
	ss, ok := s.dir.(directory.SSOSecretStore)
	if !ok {
		return directory.Account{}, ssoRefused("Single sign-on is not available on this server.")
	}
	secret, err := ss.SSOSecret(r.Context(), addr.Domain)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Account{}, ssoRefused("Single sign-on is not set up for this domain.")
	}
	if err != nil {
		return directory.Account{}, err
	}
	got, err := hex.DecodeString(sig)
	want, _ := hex.DecodeString(SSOSignature(secret, user, ts, nonce))
	if err != nil || !hmac.Equal(got, want) {
		return directory.Account{}, ssoRefused("This sign-in link is not valid (wrong signature).")
	}
	now := s.now()
	at := time.Unix(sec, 0)
	if now.Sub(at) > ssoValidity || at.Sub(now) > ssoSkew {
		return directory.Account{}, ssoRefused("This sign-in link has expired; sign in from the portal again.")
	}
	fresh, err := ss.UseSSONonce(r.Context(), addr.Domain, nonce, at.Add(ssoValidity), now)
	if err != nil {
		return directory.Account{}, err
	}
	if !fresh {
		return directory.Account{}, ssoRefused("This sign-in link was already used; sign in from the portal again.")
	}
	a, err := s.dir.Account(r.Context(), addr)
	if errors.Is(err, directory.ErrNotFound) {
		return a, ssoRefused("This sign-in link names no account here.")
	}
	if err != nil {
		return a, err
	}
	d, err := s.dir.Domain(r.Context(), a.Address.Domain)
	if err != nil {
		return a, err
	}
	if err := signInAllowed(a, d); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return a, ssoRefused(ae.Message)
		}
		return a, err
	}
	return a, nil
}
