package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// Self-service through the console forms: a token's secret is on the answer page once;
// a wrong current password changes nothing; TOTP enrolment needs a right code; another
// session is revoked; a password change keeps this browser signed in with a new session
// and signs the others out.
func TestConsoleSelfService(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	u := h.loggedIn("u1@a.example")
	other := h.loggedIn("u1@a.example")
	post := func(op string, v url.Values) (int, string) {
		t.Helper()
		v.Set("csrf_token", u.csrf)
		resp := u.form("/console/me/"+op, v)
		return resp.StatusCode, readAll(t, resp)
	}

	st, page := post("tokens", url.Values{"name": {"phone"}, "scope": {"self:read"}, "expires_in_days": {"30"}})
	secret := regexp.MustCompile(`<code id="new-token">(mgt_[^<]+)</code>`).FindStringSubmatch(page)
	if st != http.StatusOK || secret == nil {
		t.Fatalf("create token: %d\n%s", st, page)
	}
	if page := readAll(t, u.raw("GET", "/console/me", nil)); strings.Contains(page, secret[1]) || !strings.Contains(page, "phone") {
		t.Errorf("token secret shown again, or token not listed")
	}
	if st, _ := post("tokens", url.Values{"name": {"admin"}, "scope": {"admin:write"}}); st != http.StatusForbidden {
		t.Errorf("a user's admin-scoped token: %d", st)
	}

	if st, page := post("password", url.Values{"current_password": {"wrong"}, "password": {"new password 1"}}); st != http.StatusForbidden ||
		!strings.Contains(page, "current password is wrong") {
		t.Errorf("wrong current password: %d", st)
	}
	if _, err := h.env.Dir.Authenticate(ctx, "u1@a.example", pw); err != nil {
		t.Errorf("password changed by a refused form: %v", err)
	}

	if st, _ := post("totp-start", url.Values{}); st != http.StatusSeeOther {
		t.Fatalf("totp-start: %d", st)
	}
	page = readAll(t, u.raw("GET", "/console/me", nil))
	key := regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("no pending secret on the page:\n%s", page)
	}
	if st, _ := post("totp-confirm", url.Values{"code": {"000000"}}); st != http.StatusBadRequest {
		t.Errorf("wrong code: %d", st)
	}
	code, err := totp.GenerateCode(key[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := post("totp-confirm", url.Values{"code": {code}}); st != http.StatusSeeOther {
		t.Errorf("confirm: %d", st)
	}
	if st, err := h.env.Dir.TOTP(ctx, h.acct["u1@a.example"].ID); err != nil || !st.Enabled {
		t.Errorf("TOTP not enabled: %+v %v", st, err)
	}
	if st, _ := post("totp-disable", url.Values{"current_password": {pw}}); st != http.StatusSeeOther {
		t.Errorf("disable: %d", st)
	}

	// Revoke the other browser's session.
	ss, err := h.env.Dir.Sessions(ctx, h.acct["u1@a.example"].ID, time.Now())
	if err != nil || len(ss) != 2 {
		t.Fatalf("sessions: %+v %v", ss, err)
	}
	if !strings.Contains(readAll(t, u.raw("GET", "/console/me", nil)), "this session") {
		t.Error("current session not marked")
	}
	otherID := max(ss[0].ID, ss[1].ID) // the other browser signed in last
	if st, _ := post("session-revoke", url.Values{"id": {itoa(otherID)}}); st != http.StatusSeeOther {
		t.Errorf("revoke: %d", st)
	}
	if resp := other.raw("GET", "/console/me", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("revoked browser still in: %d", resp.StatusCode)
	} else {
		closeBody(t, resp)
	}

	// The password change keeps this browser in (a fresh session).
	if st, _ := post("password", url.Values{"current_password": {pw}, "password": {"brand new password"}}); st != http.StatusSeeOther {
		t.Fatalf("change password: %d", st)
	}
	if resp := u.raw("GET", "/console/me", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after own password change: %d", resp.StatusCode)
	} else {
		closeBody(t, resp)
	}
	if _, err := h.env.Dir.Authenticate(ctx, "u1@a.example", "brand new password"); err != nil {
		t.Errorf("new password: %v", err)
	}
}
