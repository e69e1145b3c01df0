package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The console's SSO page: a domain admin generates, sees, rotates and removes its
// domain's secret (CSRF required); another domain's page and a user are refused.
func TestSSOConsole(t *testing.T) {
	h := newHarness(t, nil)
	da := h.loggedIn("da@a.example")
	if _, _, body := da.get("/console/domains/a.example"); !strings.Contains(body, `href="/console/domains/a.example/sso"`) {
		t.Fatal("the domain page has no link to single sign-on")
	}
	st, _, body := da.get("/console/domains/a.example/sso")
	if st != http.StatusOK || !strings.Contains(body, `id="sso-none"`) {
		t.Fatalf("no secret yet: %d %s", st, body)
	}
	if st, _, _ := da.post("/console/domains/a.example/sso", url.Values{"op": {"rotate"}, "csrf_token": {"wrong"}}); st != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", st)
	}
	st, loc, _ := da.post("/console/domains/a.example/sso", url.Values{"op": {"rotate"}})
	if st != http.StatusSeeOther || loc != "/console/domains/a.example/sso?done=rotated" {
		t.Fatalf("generate: %d %s", st, loc)
	}
	s1 := ssoSecret(t, h, "a.example")
	if _, _, body := da.get(loc); !strings.Contains(body, s1) || !strings.Contains(body, "A new secret is in force") {
		t.Fatal("the page does not show the secret")
	}
	da.post("/console/domains/a.example/sso", url.Values{"op": {"rotate"}})
	if s2 := ssoSecret(t, h, "a.example"); s2 == s1 {
		t.Fatal("not rotated")
	}
	if st, loc, _ := da.post("/console/domains/a.example/sso", url.Values{"op": {"remove"}}); st != http.StatusSeeOther || !strings.HasSuffix(loc, "done=removed") {
		t.Fatalf("remove: %d %s", st, loc)
	}
	if st, _, body := da.get("/console/domains/b.example/sso"); st != http.StatusNotFound || strings.Contains(body, "sso-secret-value") {
		t.Fatalf("other domain: %d", st)
	}
	if st, _, _ := da.post("/console/domains/b.example/sso", url.Values{"op": {"rotate"}}); st != http.StatusNotFound {
		t.Fatalf("rotate other domain: %d", st)
	}
	u := h.loggedIn("u1@a.example")
	if st, _, _ := u.get("/console/domains/a.example/sso"); st != http.StatusNotFound {
		t.Fatalf("user: %d", st)
	}
}
