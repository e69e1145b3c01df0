package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"mailgrid/internal/directory"
	"mailgrid/internal/web"
)

func TestLoginSessionLogout(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client()
	if st, body := c.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized || errorCode(t, body) != "unauthenticated" {
		t.Fatalf("me before login: %d %s", st, body)
	}
	if st, body := c.login("u1@a.example", "wrong", ""); st != http.StatusUnauthorized || errorCode(t, body) != "auth_failed" {
		t.Fatalf("wrong password: %d %s", st, body)
	}
	if st, body := c.login("nobody@a.example", pw, ""); st != http.StatusUnauthorized || errorCode(t, body) != "auth_failed" {
		t.Fatalf("unknown login: %d %s", st, body)
	}
	resp := c.raw("POST", "/api/v1/login", map[string]string{"login": "U1@A.example", "password": pw})
	var login struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	closeBody(t, resp)
	c.csrf = login.CSRFToken
	ck := resp.Cookies()
	if len(ck) != 1 || ck[0].Name != "mg_session" || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode ||
		ck[0].Secure || ck[0].Path != "/" || len(ck[0].Value) < 40 {
		t.Fatalf("session cookie = %+v", ck)
	}
	var me struct {
		Account struct {
			Address string `json:"address"`
			ID      int64  `json:"id"`
		} `json:"account"`
		Auth string `json:"auth"`
	}
	st, body := c.do("GET", "/api/v1/me", nil)
	decodeJSON(t, body, &me)
	if st != http.StatusOK || me.Account.Address != "u1@a.example" || me.Auth != "session" || strings.Contains(string(body), "argon2") {
		t.Fatalf("me: %d %s", st, body)
	}
	if st, _ := c.do("POST", "/api/v1/logout", nil); st != http.StatusNoContent {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := c.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d", st)
	}
	if list, err := h.env.Dir.Sessions(context.Background(), me.Account.ID, time.Now()); err != nil || len(list) != 0 {
		t.Errorf("sessions after logout: %+v, %v", list, err)
	}
}

// Session fixation: whatever cookie the browser brings to the login (one an attacker
// planted, valid or made up) is not the session it leaves with, and a planted valid
// session is revoked.
func TestSessionFixation(t *testing.T) {
	h := newHarness(t, nil)
	attacker := h.loggedIn("u2@a.example")
	planted := attacker.sessionCookie()
	victim := h.client()
	u, _ := url.Parse(h.base)
	victim.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "mg_session", Value: planted, Path: "/"}})
	if st, body := victim.login("u1@a.example", pw, ""); st != http.StatusOK {
		t.Fatalf("victim login: %d %s", st, body)
	}
	if got := victim.sessionCookie(); got == planted || got == "" {
		t.Fatalf("session not rotated at login: %q", got)
	}
	// The planted session no longer exists: the attacker holds nothing.
	if st, _ := attacker.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized {
		t.Errorf("planted session still valid after the victim's login: %d", st)
	}
	// A made-up value is replaced too.
	c := h.client()
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: "mg_session", Value: "attacker-chosen", Path: "/"}})
	if st, _ := c.login("u1@a.example", pw, ""); st != http.StatusOK || c.sessionCookie() == "attacker-chosen" {
		t.Errorf("made-up cookie kept: %q", c.sessionCookie())
	}
	// The victim's session is its own.
	var me struct {
		Account struct{ Address string } `json:"account"`
	}
	_, body := victim.do("GET", "/api/v1/me", nil)
	decodeJSON(t, body, &me)
	if me.Account.Address != "u1@a.example" {
		t.Errorf("victim is %q", me.Account.Address)
	}
}

// CSRF: a session's writes need its token and must not come cross-site; bearer callers
// need no token.
func TestCSRF(t *testing.T) {
	h := newHarness(t, nil)
	c := h.loggedIn("root@sys.example")
	token := c.csrf
	create := map[string]any{"name": "c.example"}
	c.csrf = ""
	if st, body := c.do("POST", "/api/v1/domains", create); st != http.StatusForbidden || errorCode(t, body) != "csrf" {
		t.Fatalf("no token: %d %s", st, body)
	}
	c.csrf = "wrong" + token
	if st, body := c.do("POST", "/api/v1/domains", create); st != http.StatusForbidden || errorCode(t, body) != "csrf" {
		t.Fatalf("wrong token: %d %s", st, body)
	}
	c.csrf = token
	c.header.Set("Sec-Fetch-Site", "cross-site")
	if st, body := c.do("POST", "/api/v1/domains", create); st != http.StatusForbidden || errorCode(t, body) != "cross_origin" {
		t.Fatalf("cross-site with the token: %d %s", st, body)
	}
	c.header = http.Header{"Origin": {"http://evil.example"}}
	if st, body := c.do("POST", "/api/v1/domains", create); st != http.StatusForbidden || errorCode(t, body) != "cross_origin" {
		t.Fatalf("foreign Origin: %d %s", st, body)
	}
	if _, err := h.env.Dir.Domain(context.Background(), "c.example"); err == nil {
		t.Fatal("a refused request created the domain")
	}
	// A cross-site console form post is refused too.
	c.header = http.Header{"Sec-Fetch-Site": {"cross-site"}}
	resp := c.form("/console/domains", url.Values{"name": {"c.example"}, "csrf_token": {token}})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site form: %d", resp.StatusCode)
	}
	c.header = http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {h.base}}
	if st, body := c.do("POST", "/api/v1/domains", create); st != http.StatusCreated {
		t.Fatalf("same-origin with the token: %d %s", st, body)
	}
	// Bearer tokens carry no ambient credential: no CSRF token needed.
	b := h.client()
	b.bearer = newToken(t, c, "ci", web.ScopeAdminWrite)
	if st, body := b.do("POST", "/api/v1/domains", map[string]any{"name": "d.example"}); st != http.StatusCreated {
		t.Fatalf("bearer write: %d %s", st, body)
	}
}

func newToken(t *testing.T, c *client, name string, scopes ...string) string {
	t.Helper()
	st, body := c.do("POST", "/api/v1/me/tokens", map[string]any{"name": name, "scopes": scopes})
	var tok struct {
		Token string `json:"token"`
	}
	decodeJSON(t, body, &tok)
	if st != http.StatusCreated || !strings.HasPrefix(tok.Token, "mgt_") {
		t.Fatalf("create token: %d %s", st, body)
	}
	return tok.Token
}

func TestLoginRateLimits(t *testing.T) {
	h := newHarness(t, func(o *web.Options) {
		o.LoginPerAccount = web.Limit{Burst: 3, Every: time.Hour}
		o.LoginPerIP = web.Limit{Burst: 6, Every: time.Hour}
	})
	c := h.client()
	for i := range 3 {
		if st, body := c.login("u1@a.example", "wrong", ""); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i, st, body)
		}
	}
	// The account is locked for now, even with the right password and another case.
	resp := c.raw("POST", "/api/v1/login", map[string]string{"login": "U1@a.example", "password": pw})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Another account from the same address still signs in while the address has tokens.
	if st, body := c.login("u2@a.example", pw, ""); st != http.StatusOK {
		t.Fatalf("other account: %d %s", st, body)
	}
	// The address bucket (6) is now spent: 3 failures, the refused one, one success, one more.
	if st, _ := c.login("u2@a.example", pw, ""); st != http.StatusOK {
		t.Fatalf("6th attempt from the address: %d", st)
	}
	if st, body := c.login("u2@a.example", pw, ""); st != http.StatusTooManyRequests || errorCode(t, body) != "rate_limited" {
		t.Fatalf("7th attempt from the address: %d %s", st, body)
	}
}

func TestTOTP(t *testing.T) {
	now := time.Now() // the server's clock stands still: codes are computed for it
	h := newHarness(t, func(o *web.Options) { o.Now = func() time.Time { return now } })
	c := h.loggedIn("u1@a.example")
	st, body := c.do("POST", "/api/v1/me/totp", nil)
	var enrol struct {
		Secret string `json:"secret"`
		URL    string `json:"otpauth_url"`
	}
	decodeJSON(t, body, &enrol)
	if st != http.StatusCreated || enrol.Secret == "" || !strings.HasPrefix(enrol.URL, "otpauth://totp/mx.test:u1@a.example?") {
		t.Fatalf("enrol: %d %s", st, body)
	}
	// Still pending: a login needs no code yet.
	if st, _ := h.client().login("u1@a.example", pw, ""); st != http.StatusOK {
		t.Fatalf("login while pending: %d", st)
	}
	if st, body := c.do("POST", "/api/v1/me/totp/confirm", map[string]string{"code": "000000"}); st != http.StatusBadRequest || errorCode(t, body) != "totp_invalid" {
		t.Fatalf("confirm with a wrong code: %d %s", st, body)
	}
	// The enrolment code is one step back, so the login below can use the current step.
	code := func(at time.Time) string {
		s, err := totp.GenerateCode(enrol.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if st, body := c.do("POST", "/api/v1/me/totp/confirm", map[string]string{"code": code(now.Add(-30 * time.Second))}); st != http.StatusNoContent {
		t.Fatalf("confirm: %d %s", st, body)
	}
	l := h.client()
	if st, body := l.login("u1@a.example", pw, ""); st != http.StatusUnauthorized || errorCode(t, body) != "totp_required" {
		t.Fatalf("login without code: %d %s", st, body)
	}
	if st, body := l.login("u1@a.example", pw, "123"); st != http.StatusUnauthorized || errorCode(t, body) != "totp_invalid" {
		t.Fatalf("login with a bad code: %d %s", st, body)
	}
	cur := code(now)
	if st, body := l.login("u1@a.example", pw, cur); st != http.StatusOK {
		t.Fatalf("login with the code: %d %s", st, body)
	}
	// RFC 6238 5.2: a code is accepted once.
	if st, body := h.client().login("u1@a.example", pw, cur); st != http.StatusUnauthorized || errorCode(t, body) != "totp_invalid" {
		t.Fatalf("replayed code: %d %s", st, body)
	}
	if st, body := l.do("POST", "/api/v1/me/totp/disable", map[string]string{"current_password": "nope"}); st != http.StatusForbidden || errorCode(t, body) != "wrong_password" {
		t.Fatalf("disable with a wrong password: %d %s", st, body)
	}
	if st, body := l.do("POST", "/api/v1/me/totp/disable", map[string]string{"current_password": pw}); st != http.StatusNoContent {
		t.Fatalf("disable: %d %s", st, body)
	}
	if st, _ := h.client().login("u1@a.example", pw, ""); st != http.StatusOK {
		t.Fatalf("login after disabling TOTP: %d", st)
	}
}

// A password change ends every other session, through the API or any other path (the
// CLI writes the directory directly); the session that changed it gets a new cookie.
func TestPasswordChangeEndsSessions(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.loggedIn("u1@a.example"), h.loggedIn("u1@a.example")
	id := h.acct["u1@a.example"].ID
	path := "/api/v1/domains/a.example/accounts/" + itoa(id)
	if st, body := a.do("PATCH", path, map[string]string{"password": "a new password", "current_password": "bad"}); st != http.StatusForbidden || errorCode(t, body) != "wrong_password" {
		t.Fatalf("wrong current password: %d %s", st, body)
	}
	if st, _ := b.do("GET", "/api/v1/me", nil); st != http.StatusOK {
		t.Fatal("a refused change ended a session")
	}
	old := a.sessionCookie()
	if st, body := a.do("PATCH", path, map[string]string{"password": "a new password", "current_password": pw}); st != http.StatusOK {
		t.Fatalf("change password: %d %s", st, body)
	}
	if a.sessionCookie() == old {
		t.Error("the session that changed the password kept its cookie")
	}
	if st, _ := a.do("GET", "/api/v1/me", nil); st != http.StatusOK {
		t.Errorf("the changing session is signed out: %d", st)
	}
	if st, body := b.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized {
		t.Errorf("other session after the change: %d %s", st, body)
	}
	// Out of band (the CLI): the next request of the remaining session fails.
	np := "cli password"
	if _, err := h.env.Dir.UpdateAccount(context.Background(), h.acct["u1@a.example"].Address, directory.AccountUpdate{Password: &np}); err != nil {
		t.Fatal(err)
	}
	if st, body := a.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized || errorCode(t, body) != "session_expired" {
		t.Errorf("session after a CLI password change: %d %s", st, body)
	}
}

// Who may sign in: a user needs webmail; an admin signs in to the console whatever its
// webmail switch; a disabled account is cut off at its next request.
func TestSignInRules(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	off := []string{directory.ServiceWebmail}
	for _, addr := range []string{"u2@a.example", "da@a.example"} {
		if _, err := h.env.Dir.UpdateAccount(ctx, h.acct[addr].Address, directory.AccountUpdate{DisabledServices: &off}); err != nil {
			t.Fatal(err)
		}
	}
	if st, body := h.client().login("u2@a.example", pw, ""); st != http.StatusForbidden || errorCode(t, body) != "service_disabled" {
		t.Errorf("user without webmail: %d %s", st, body)
	}
	if st, body := h.client().login("da@a.example", pw, ""); st != http.StatusOK {
		t.Errorf("admin without webmail: %d %s", st, body)
	}
	c := h.loggedIn("u1@a.example")
	no := false
	if _, err := h.env.Dir.UpdateAccount(ctx, h.acct["u1@a.example"].Address, directory.AccountUpdate{Enabled: &no}); err != nil {
		t.Fatal(err)
	}
	if st, body := c.do("GET", "/api/v1/me", nil); st != http.StatusForbidden || errorCode(t, body) != "account_disabled" {
		t.Errorf("disabled account's session: %d %s", st, body)
	}
	if st, body := h.client().login("u1@a.example", pw, ""); st != http.StatusForbidden || errorCode(t, body) != "account_disabled" {
		t.Errorf("disabled account's login: %d %s", st, body)
	}
	// A disabled domain stops its admin's session too.
	d := h.loggedIn("da@b.example")
	dom, err := h.env.Dir.Domain(ctx, "b.example")
	if err != nil {
		t.Fatal(err)
	}
	dom.Enabled = false
	if err := h.env.Dir.UpdateDomain(ctx, dom); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.do("GET", "/api/v1/domains", nil); st != http.StatusForbidden {
		t.Errorf("admin of a disabled domain: %d", st)
	}
}

func TestAPITokens(t *testing.T) {
	h := newHarness(t, nil)
	da := h.loggedIn("da@a.example")
	tok := newToken(t, da, "billing", web.ScopeAdminRead, web.ScopeSelfRead)
	b := h.client()
	b.bearer = tok
	if st, body := b.do("GET", "/api/v1/domains", nil); st != http.StatusOK || !strings.Contains(string(body), "a.example") || strings.Contains(string(body), "b.example") {
		t.Fatalf("bearer read: %d %s", st, body)
	}
	if st, body := b.do("POST", "/api/v1/domains/a.example/accounts", map[string]string{"address": "n@a.example", "password": pw}); st != http.StatusForbidden || errorCode(t, body) != "insufficient_scope" {
		t.Errorf("bearer write without scope: %d %s", st, body)
	}
	if st, body := b.do("POST", "/api/v1/me/tokens", map[string]any{"name": "x", "scopes": []string{web.ScopeAdminRead}}); st != http.StatusForbidden || errorCode(t, body) != "session_required" {
		t.Errorf("token minting a token: %d %s", st, body)
	}
	// Listing shows no secret.
	st, body := da.do("GET", "/api/v1/me/tokens", nil)
	if st != http.StatusOK || strings.Contains(string(body), tok) || strings.Contains(string(body), "mgt_") || !strings.Contains(string(body), "billing") {
		t.Errorf("token list: %d %s", st, body)
	}
	// A user's token can only read itself.
	u := h.loggedIn("u1@a.example")
	if st, body := u.do("POST", "/api/v1/me/tokens", map[string]any{"name": "x", "scopes": []string{web.ScopeAdminRead}}); st != http.StatusForbidden {
		t.Errorf("user asks for admin:read: %d %s", st, body)
	}
	if st, body := u.do("POST", "/api/v1/me/tokens", map[string]any{"name": "x", "scopes": []string{"root"}}); st != http.StatusBadRequest {
		t.Errorf("unknown scope: %d %s", st, body)
	}
	var toks struct {
		Items []struct{ ID int64 } `json:"items"`
	}
	_, body = da.do("GET", "/api/v1/me/tokens", nil)
	decodeJSON(t, body, &toks)
	if st, _ := da.do("DELETE", "/api/v1/me/tokens/"+itoa(toks.Items[0].ID), nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}
	if st, body := b.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized || errorCode(t, body) != "bad_token" {
		t.Errorf("revoked token: %d %s", st, body)
	}
	b.bearer = "not-a-token"
	if st, body := b.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized || errorCode(t, body) != "bad_token" {
		t.Errorf("malformed token: %d %s", st, body)
	}
}

func TestSessionsListAndRevoke(t *testing.T) {
	h := newHarness(t, nil)
	a, b := h.loggedIn("u1@a.example"), h.loggedIn("u1@a.example")
	var ss struct {
		Items []struct {
			ID      int64 `json:"id"`
			Current bool  `json:"current"`
		} `json:"items"`
	}
	_, body := a.do("GET", "/api/v1/me/sessions", nil)
	decodeJSON(t, body, &ss)
	if len(ss.Items) != 2 || ss.Items[0].Current == ss.Items[1].Current {
		t.Fatalf("sessions: %s", body)
	}
	other := ss.Items[0].ID
	if ss.Items[0].Current {
		other = ss.Items[1].ID
	}
	if st, _ := a.do("DELETE", "/api/v1/me/sessions/"+itoa(other), nil); st != http.StatusNoContent {
		t.Fatalf("revoke: %d", st)
	}
	if st, _ := b.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized {
		t.Errorf("revoked session works: %d", st)
	}
	if st, _ := a.do("GET", "/api/v1/me", nil); st != http.StatusOK {
		t.Errorf("revoking another session ended mine: %d", st)
	}
}

// Sessions end after the idle timeout, activity moves that end forward, and the absolute
// lifetime ends them whatever the activity. The server's clock is the test's.
func TestSessionExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := newHarness(t, func(o *web.Options) {
		o.Now, o.SessionIdle, o.SessionLifetime = clock, 10*time.Minute, 25*time.Minute
	})
	c := h.loggedIn("u1@a.example")
	for range 2 { // 2 x 9 min of activity: alive at 18 min, past the first idle end
		advance(9 * time.Minute)
		if st, body := c.do("GET", "/api/v1/me", nil); st != http.StatusOK {
			t.Fatalf("active session: %d %s", st, body)
		}
	}
	advance(9 * time.Minute) // 27 min: past the 25 min lifetime although active
	if st, body := c.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized || errorCode(t, body) != "session_expired" {
		t.Fatalf("past the lifetime: %d %s", st, body)
	}
	d := h.loggedIn("u1@a.example")
	advance(11 * time.Minute)
	if st, body := d.do("GET", "/api/v1/me", nil); st != http.StatusUnauthorized || errorCode(t, body) != "session_expired" {
		t.Fatalf("idle session: %d %s", st, body)
	}
}
