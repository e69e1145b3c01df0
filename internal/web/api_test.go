package web_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// A system admin and a domain admin manage their domains through the API, and every step
// is visible in the directory and the audit log.
func TestAPIAdminFlows(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	root := h.loggedIn("root@sys.example")
	st, body := root.do("POST", "/api/v1/domains", map[string]any{"name": "Bücher.example", "max_users": 2, "max_quota_bytes": 1 << 20,
		"disabled_services": []string{"POP3"}})
	if st != http.StatusCreated || !strings.Contains(string(body), `"name":"xn--bcher-kva.example"`) ||
		!strings.Contains(string(body), `"name_unicode":"bücher.example"`) || !strings.Contains(string(body), `"disabled_services":["pop3"]`) {
		t.Fatalf("create domain: %d %s", st, body)
	}
	if st, body := root.do("POST", "/api/v1/domains", map[string]any{"name": "bücher.example"}); st != http.StatusConflict || errorCode(t, body) != "exists" {
		t.Errorf("duplicate domain: %d %s", st, body)
	}
	if st, body := root.do("PATCH", "/api/v1/domains/bücher.example", map[string]any{"max_message_bytes": 5000000}); st != http.StatusOK ||
		!strings.Contains(string(body), `"max_message_bytes":5000000`) || !strings.Contains(string(body), `"max_users":2`) {
		t.Errorf("patch domain: %d %s", st, body)
	}
	// A domain admin of the new domain, created by the system admin.
	st, body = root.do("POST", "/api/v1/domains/xn--bcher-kva.example/accounts", map[string]any{"address": "chef@bücher.example",
		"password": pw, "role": "domain-admin"})
	if st != http.StatusCreated || !strings.Contains(string(body), `"admin_domains":["xn--bcher-kva.example"]`) {
		t.Fatalf("create domain admin: %d %s", st, body)
	}
	chef := h.loggedIn("chef@bücher.example")
	st, body = chef.do("POST", "/api/v1/domains/xn--bcher-kva.example/accounts", map[string]any{"address": "leser@bücher.example",
		"password": pw, "quota_bytes": 1000})
	var acct struct {
		ID int64 `json:"id"`
	}
	decodeJSON(t, body, &acct)
	if st != http.StatusCreated {
		t.Fatalf("domain admin creates a user: %d %s", st, body)
	}
	user := "/api/v1/domains/xn--bcher-kva.example/accounts/" + itoa(acct.ID)
	if st, body := chef.do("PATCH", user, map[string]any{"quota_bytes": 2 << 20}); st != http.StatusUnprocessableEntity || errorCode(t, body) != "limit_exceeded" {
		t.Errorf("quota above the domain's: %d %s", st, body)
	}
	if st, body := chef.do("PATCH", user, map[string]any{"quota_bytes": 5000, "enabled": false, "disabled_services": []string{"imap"}}); st != http.StatusOK {
		t.Errorf("patch user: %d %s", st, body)
	}
	if st, body := chef.do("GET", user, nil); st != http.StatusOK || !strings.Contains(string(body), `"used_bytes":0`) ||
		!strings.Contains(string(body), `"enabled":false`) || strings.Contains(string(body), "argon2") {
		t.Errorf("get user: %d %s", st, body)
	}
	if st, body := chef.do("POST", "/api/v1/domains/xn--bcher-kva.example/accounts", map[string]any{"address": "x@bücher.example", "password": pw}); st != http.StatusUnprocessableEntity || errorCode(t, body) != "limit_exceeded" {
		t.Errorf("past max_users: %d %s", st, body)
	}
	if st, body := chef.do("POST", "/api/v1/domains/xn--bcher-kva.example/aliases", map[string]any{"source": "@bücher.example", "targets": []string{"leser@bücher.example"}}); st != http.StatusCreated {
		t.Errorf("catch-all: %d %s", st, body)
	}
	if st, body := chef.do("DELETE", "/api/v1/domains/xn--bcher-kva.example/aliases/@xn--bcher-kva.example", nil); st != http.StatusNoContent {
		t.Errorf("delete catch-all: %d %s", st, body)
	}
	if st, body := chef.do("DELETE", user, nil); st != http.StatusNoContent {
		t.Errorf("delete user: %d %s", st, body)
	}
	if _, err := h.env.Dir.Account(ctx, mail.MustParse("leser@bücher.example")); err == nil {
		t.Error("deleted account still in the directory")
	}
	// The domain admin cannot delete its own domain nor itself; the system admin can.
	if st, _ := chef.do("DELETE", "/api/v1/domains/xn--bcher-kva.example?force=true", nil); st != http.StatusForbidden {
		t.Errorf("domain admin deletes its domain: %d", st)
	}
	if st, body := root.do("DELETE", "/api/v1/domains/xn--bcher-kva.example", nil); st != http.StatusConflict || errorCode(t, body) != "domain_not_empty" {
		t.Errorf("delete a non-empty domain: %d %s", st, body)
	}
	if st, body := root.do("DELETE", "/api/v1/domains/xn--bcher-kva.example?force=true", nil); st != http.StatusNoContent {
		t.Errorf("force delete: %d %s", st, body)
	}
	// The audit log holds who did what, from where.
	st, body = root.do("GET", "/api/v1/audit?action=account.&q=leser", nil)
	if st != http.StatusOK || !strings.Contains(string(body), `"actor":"chef@xn--bcher-kva.example"`) ||
		!strings.Contains(string(body), `"action":"account.delete"`) || !strings.Contains(string(body), `"remote":"127.0.0.1"`) ||
		!strings.Contains(string(body), `"via":"api"`) {
		t.Errorf("audit: %d %s", st, body)
	}
}

// Mass assignment: a user's own PATCH may change only its password; role, quota,
// services, enabled and unknown fields (domain) are refused and change nothing.
func TestUserSelfPatchRestricted(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	u := h.loggedIn("u1@a.example")
	self := "/api/v1/domains/a.example/accounts/" + itoa(h.acct["u1@a.example"].ID)
	before, err := h.env.Dir.Account(ctx, h.acct["u1@a.example"].Address)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"role": "system-admin"}, "forbidden"},
		{map[string]any{"role": "domain-admin", "admin_domains": []string{"a.example"}}, "forbidden"},
		{map[string]any{"quota_bytes": 1 << 40}, "forbidden"},
		{map[string]any{"quota_messages": 0}, "forbidden"},
		{map[string]any{"disabled_services": []string{}}, "forbidden"},
		{map[string]any{"enabled": true}, "forbidden"},
		{map[string]any{"password": "new one here", "current_password": pw, "role": "system-admin"}, "forbidden"},
		{map[string]any{"domain": "b.example"}, "unknown_field"},
		{map[string]any{"address": "root@sys.example"}, "unknown_field"},
		{map[string]any{"shard": "other"}, "unknown_field"},
		{map[string]any{"id": 1}, "unknown_field"},
	} {
		st, body := u.do("PATCH", self, c.body)
		if got := errorCode(t, body); (st != http.StatusForbidden && st != http.StatusBadRequest) || got != c.code {
			t.Errorf("PATCH %v: %d %s, want %s", c.body, st, body, c.code)
		}
	}
	after, err := h.env.Dir.Account(ctx, h.acct["u1@a.example"].Address)
	if err != nil || after.Role != before.Role || after.QuotaBytes != before.QuotaBytes || after.PasswordHash != before.PasswordHash ||
		after.Enabled != before.Enabled || len(after.AdminDomains) != 0 {
		t.Errorf("account changed: %+v -> %+v (%v)", before, after, err)
	}
	if st, body := u.do("GET", self, nil); st != http.StatusOK {
		t.Errorf("user reads itself: %d %s", st, body)
	}
	// A domain admin cannot promote to system admin, nor disable itself.
	da := h.loggedIn("da@a.example")
	if st, body := da.do("PATCH", self, map[string]any{"role": "system-admin"}); st != http.StatusForbidden {
		t.Errorf("domain admin grants system-admin: %d %s", st, body)
	}
	if st, body := da.do("PATCH", "/api/v1/domains/a.example/accounts/"+itoa(h.acct["da@a.example"].ID), map[string]any{"enabled": false}); st != http.StatusForbidden {
		t.Errorf("domain admin disables itself: %d %s", st, body)
	}
	if a, _ := h.env.Dir.Account(ctx, h.acct["u1@a.example"].Address); a.Role != directory.RoleUser {
		t.Errorf("role is %s", a.Role)
	}
}

// Every API error is JSON with a stable code and a message, including the router's own.
func TestErrorsAreJSON(t *testing.T) {
	h := newHarness(t, nil)
	root := h.loggedIn("root@sys.example")
	raw := func(method, path, ctype, body string) (int, []byte, http.Header) {
		req, err := http.NewRequest(method, h.base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("X-CSRF-Token", root.csrf)
		resp, err := root.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer closeBody(t, resp)
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b, resp.Header
	}
	cases := []struct {
		method, path, ctype, body string
		status                    int
		code                      string
	}{
		{"GET", "/api/v1/nothing", "", "", 404, "not_found"},
		{"PUT", "/api/v1/domains", "application/json", "{}", 405, "method_not_allowed"},
		{"POST", "/api/v1/domains", "application/json", "{", 400, "bad_json"},
		{"POST", "/api/v1/domains", "application/json", "", 400, "bad_json"},
		{"POST", "/api/v1/domains", "application/json", `{"name":"x.example"} {}`, 400, "bad_json"},
		{"POST", "/api/v1/domains", "application/json", `{"name":"x.example","enabled":false}`, 400, "unknown_field"},
		{"POST", "/api/v1/domains", "application/json", `{"name":5}`, 400, "invalid"},
		{"POST", "/api/v1/domains", "text/plain", `{"name":"x.example"}`, 415, "unsupported_media_type"},
		{"POST", "/api/v1/domains", "application/json", `{"name":"not a domain!"}`, 400, "invalid"},
		{"POST", "/api/v1/domains", "application/json", `{"name":"x.example","max_users":-1}`, 400, "invalid"},
		{"POST", "/api/v1/domains", "application/json", `{"name":"x.example","disabled_services":["fax"]}`, 400, "invalid"},
		{"GET", "/api/v1/domains/a.example/accounts/abc", "", "", 404, "not_found"},
		{"GET", "/api/v1/domains/a.example/accounts/99999", "", "", 404, "not_found"},
		{"POST", "/api/v1/domains", "application/json", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "too_large"},
	}
	for _, c := range cases {
		st, body, hdr := raw(c.method, c.path, c.ctype, c.body)
		if st != c.status || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s %.40q: %d %s, want %d", c.method, c.path, c.body, st, body, c.status)
			continue
		}
		if got := errorCode(t, body); got != c.code {
			t.Errorf("%s %s %.40q: code %s, want %s", c.method, c.path, c.body, got, c.code)
		}
		if c.status == 405 && hdr.Get("Allow") != "GET, POST" {
			t.Errorf("Allow = %q", hdr.Get("Allow"))
		}
	}
	if _, err := h.env.Dir.Domain(context.Background(), "x.example"); err == nil {
		t.Error("an invalid request created x.example")
	}
}
