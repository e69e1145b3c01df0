package web_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/web"
)

// ssoLink is the portal's side: a signed link for user at ts.
func ssoLink(secret, user string, ts time.Time) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	nonce, t := hex.EncodeToString(b), strconv.FormatInt(ts.Unix(), 10)
	return "/sso?" + url.Values{"user": {user}, "ts": {t}, "nonce": {nonce},
		"sig": {web.SSOSignature(secret, user, t, nonce)}}.Encode()
}

// sso follows a link without following redirects and returns the status and body (or
// "Location: ..." for a redirect).
func (c *client) sso(path string) (int, string) {
	c.h.t.Helper()
	st, hd, body := c.get(path)
	if loc := hd.Get("Location"); loc != "" {
		return st, "Location: " + loc
	}
	return st, body
}

// inMail reports whether c's session opens the webmail (/mail/ goes on to a folder).
func inMail(c *client) bool {
	st, loc := c.sso("/mail/")
	return st == http.StatusSeeOther && strings.HasPrefix(loc, "Location: /mail/f/")
}

func ssoSecret(t *testing.T, h *harness, domain string) string {
	t.Helper()
	s, err := h.svc.As(admin.SystemActor("test")).SSOSecret(context.Background(), domain, false)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A signed link signs its user in once, within a minute, only with its own domain's
// secret, and never a disabled account; refusals leave no session.
func TestSSOLink(t *testing.T) {
	h := newHarness(t, nil)
	secA, secB := ssoSecret(t, h, "a.example"), ssoSecret(t, h, "b.example")
	now := time.Now()

	c := h.client()
	link := ssoLink(secA, "u1@a.example", now)
	st, body := c.sso(link)
	if st != http.StatusOK || !strings.Contains(body, `url=/mail/`) || c.sessionCookie() == "" {
		t.Fatalf("valid link: %d %q cookie %q", st, body, c.sessionCookie())
	}
	if !inMail(c) {
		t.Fatal("valid link: the session does not open the webmail")
	}
	// The same link again (another browser): refused, the nonce is spent.
	if st, body := h.client().sso(link); st != http.StatusForbidden || !strings.Contains(body, "already used") {
		t.Fatalf("replay: %d %q", st, body)
	}

	refused := map[string]struct {
		link string
		want int
		text string
	}{
		"expired":               {ssoLink(secA, "u1@a.example", now.Add(-61*time.Second)), http.StatusForbidden, "expired"},
		"from the future":       {ssoLink(secA, "u1@a.example", now.Add(5*time.Minute)), http.StatusForbidden, "expired"},
		"wrong secret":          {ssoLink(strings.Repeat("f", 64), "u1@a.example", now), http.StatusForbidden, "wrong signature"},
		"other domain's user":   {ssoLink(secA, "u1@b.example", now), http.StatusForbidden, "wrong signature"},
		"unknown user":          {ssoLink(secA, "nobody@a.example", now), http.StatusForbidden, "no account"},
		"domain without secret": {ssoLink(secA, "root@sys.example", now), http.StatusForbidden, "not set up"},
		"malformed":             {"/sso?user=u1@a.example&ts=x&nonce=short&sig=00", http.StatusBadRequest, "malformed"},
	}
	for name, r := range refused {
		c := h.client()
		st, body := c.sso(r.link)
		if st != r.want || !strings.Contains(body, r.text) || c.sessionCookie() != "" {
			t.Errorf("%s: %d %q cookie %q; want %d %q and no cookie", name, st, body, c.sessionCookie(), r.want, r.text)
		}
	}
	// A signature is over the exact fields: changing the user of a valid link breaks it.
	tampered := strings.Replace(ssoLink(secB, "u1@b.example", now), "u1%40b.example", "u2%40b.example", 1)
	if st, _ := h.client().sso(tampered); st != http.StatusForbidden {
		t.Errorf("tampered user: %d", st)
	}
	// A disabled account: a right link is still refused.
	off := false
	if _, err := h.env.Dir.UpdateAccount(context.Background(), h.acct["u2@b.example"].Address, directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if st, body := h.client().sso(ssoLink(secB, "u2@b.example", now)); st != http.StatusForbidden || !strings.Contains(body, "disabled") {
		t.Errorf("disabled account: %d %q", st, body)
	}
	// A disabled domain, and a user whose webmail is switched off: refused too.
	ctx := context.Background()
	dB, err := h.env.Dir.Domain(ctx, "b.example")
	if err != nil {
		t.Fatal(err)
	}
	dB.Enabled = false
	if err := h.env.Dir.UpdateDomain(ctx, dB); err != nil {
		t.Fatal(err)
	}
	if st, body := h.client().sso(ssoLink(secB, "u1@b.example", now)); st != http.StatusForbidden || !strings.Contains(body, "disabled") {
		t.Errorf("disabled domain: %d %q", st, body)
	}
	noWebmail := []string{directory.ServiceWebmail}
	if _, err := h.env.Dir.UpdateAccount(ctx, h.acct["u2@a.example"].Address, directory.AccountUpdate{DisabledServices: &noWebmail}); err != nil {
		t.Fatal(err)
	}
	if st, body := h.client().sso(ssoLink(secA, "u2@a.example", now)); st != http.StatusForbidden || !strings.Contains(body, "webmail is disabled") {
		t.Errorf("webmail off: %d %q", st, body)
	}
	// A rotation voids links signed with the old secret.
	if _, err := h.svc.As(admin.SystemActor("test")).SSOSecret(context.Background(), "a.example", true); err != nil {
		t.Fatal(err)
	}
	if st, body := h.client().sso(ssoLink(secA, "u1@a.example", now)); st != http.StatusForbidden || !strings.Contains(body, "wrong signature") {
		t.Errorf("old secret after rotation: %d %q", st, body)
	}
}

// The portal is trusted as the identity provider: a user with TOTP enrolled is signed in
// by a link without a code (docs/webmail.md).
func TestSSOLinkSkipsTOTP(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	u := h.acct["u1@a.example"]
	if err := h.env.Dir.SetTOTP(ctx, u.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	if err := h.env.Dir.EnableTOTP(ctx, u.ID, 1); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	if st, body := c.sso(ssoLink(ssoSecret(t, h, "a.example"), "u1@a.example", time.Now())); st != http.StatusOK || !inMail(c) {
		t.Fatalf("TOTP user: %d %q", st, body)
	}
}

// The API: a domain admin reads, rotates, sets and removes its domain's secret; a user
// may not; another domain's is not found.
func TestSSOSecretAPI(t *testing.T) {
	h := newHarness(t, nil)
	da := h.loggedIn("da@a.example")
	var v struct {
		Domain, Secret string
	}
	st, body := da.do("GET", "/api/v1/domains/a.example/sso-secret", nil)
	decodeJSON(t, body, &v)
	if st != http.StatusOK || v.Secret != "" {
		t.Fatalf("none yet: %d %s", st, body)
	}
	st, body = da.do("POST", "/api/v1/domains/a.example/sso-secret", nil)
	decodeJSON(t, body, &v)
	if st != http.StatusOK || len(v.Secret) != 64 || v.Domain != "a.example" {
		t.Fatalf("rotate: %d %s", st, body)
	}
	own := strings.Repeat("s", 48)
	if st, body := da.do("POST", "/api/v1/domains/a.example/sso-secret", map[string]string{"secret": own}); st != http.StatusOK {
		t.Fatalf("set: %d %s", st, body)
	}
	if st, body := da.do("POST", "/api/v1/domains/a.example/sso-secret", map[string]string{"secret": "short"}); st != http.StatusBadRequest {
		t.Fatalf("short: %d %s", st, body)
	}
	if got := ssoSecret(t, h, "a.example"); got != own {
		t.Fatalf("secret = %q, want %q", got, own)
	}
	if st, body := h.loggedIn("u1@a.example").do("GET", "/api/v1/domains/a.example/sso-secret", nil); st != http.StatusNotFound && st != http.StatusForbidden {
		t.Fatalf("user reads the secret: %d %s", st, body)
	}
	if st, _ := da.do("GET", "/api/v1/domains/b.example/sso-secret", nil); st != http.StatusNotFound {
		t.Fatalf("other domain: %d", st)
	}
	if st, body := da.do("DELETE", "/api/v1/domains/a.example/sso-secret", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d %s", st, body)
	}
	if st, body := h.client().sso(ssoLink(own, "u1@a.example", time.Now())); st != http.StatusForbidden || !strings.Contains(body, "not set up") {
		t.Fatalf("after delete: %d %q", st, body)
	}
	if st, body := da.do("GET", "/api/v1/domains/a.example/sms-stats?since=2026-01-01", nil); st != http.StatusOK || !strings.Contains(string(body), `"items":[]`) {
		t.Fatalf("sms stats: %d %s", st, body)
	}
}

// The examples of docs/webmail.md make links the server takes: the Python function run
// by python3, and the shell lines run by sh with openssl.
func TestSSODocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/webmail.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)[strings.Index(string(doc), "## Single sign-on"):]
	py := regexp.MustCompile("(?s)```python\n(.*?)```").FindStringSubmatch(sec)
	sh := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(sec)
	if py == nil || sh == nil {
		t.Fatal("docs/webmail.md: no python or sh example under Single sign-on")
	}
	h := newHarness(t, nil)
	secret := ssoSecret(t, h, "a.example")
	run := func(tool string, args ...string) string {
		t.Helper()
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing", tool)
			}
			t.Skipf("%s missing", tool)
		}
		out, err := exec.Command(tool, args...).Output()
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tool := range []string{"sh", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil && os.Getenv("CI") != "true" {
			t.Skipf("%s missing", tool)
		}
	}
	links := map[string]string{
		"python": run("python3", "-c", py[1]+"\nprint(sso_link('', "+strconv.Quote(secret)+", 'u1@a.example'))"),
		// The shell example with the CLI's answer and the host replaced.
		"sh": run("sh", "-c", strings.NewReplacer("$(mailgrid domain sso-secret example.com)", "'"+secret+"'",
			"alice@example.com", "u1@a.example", "https://mail.example.com", "").Replace(sh[1])),
	}
	for name, link := range links {
		c := h.client()
		if st, body := c.sso(link); st != http.StatusOK || !inMail(c) {
			t.Errorf("%s link %q: %d %q", name, link, st, body)
		}
	}
}
