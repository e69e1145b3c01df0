package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Transfer: after the system admin gives a.example to da@b.example, the previous admin's
// API and console answer 404 at once (same session), and the new admin gets it.
func TestDomainTransferRevokesAccess(t *testing.T) {
	h := newHarness(t, nil)
	root, da, newAdmin := h.loggedIn("root@sys.example"), h.loggedIn("da@a.example"), h.loggedIn("da@b.example")
	if st, body := da.do("GET", "/api/v1/domains/a.example/accounts", nil); st != http.StatusOK {
		t.Fatalf("before: %d %s", st, body)
	}
	if st, _ := da.do("PUT", "/api/v1/domains/a.example/admins", map[string]any{"admins": []string{"da@a.example"}}); st != http.StatusForbidden {
		t.Errorf("a domain admin transfers its domain: %d", st)
	}
	st, body := root.do("PUT", "/api/v1/domains/a.example/admins", map[string]any{"admins": []string{"da@b.example"}})
	if st != http.StatusOK || !strings.Contains(string(body), `"address":"da@b.example"`) || strings.Contains(string(body), "da@a.example") {
		t.Fatalf("transfer: %d %s", st, body)
	}
	for _, path := range []string{"/api/v1/domains/a.example", "/api/v1/domains/a.example/accounts"} {
		if st, body := da.do("GET", path, nil); st != http.StatusNotFound {
			t.Errorf("previous admin GET %s: %d %s", path, st, body)
		}
	}
	if resp := da.raw("GET", "/console/domains/a.example", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("previous admin's console page: %d", resp.StatusCode)
		closeBody(t, resp)
	} else {
		closeBody(t, resp)
	}
	if st, body := newAdmin.do("GET", "/api/v1/domains/a.example/accounts", nil); st != http.StatusOK {
		t.Errorf("new admin: %d %s", st, body)
	}
	if st, body := root.do("GET", "/api/v1/domains/a.example/admins", nil); st != http.StatusOK || !strings.Contains(string(body), "da@b.example") {
		t.Errorf("admins: %d %s", st, body)
	}
	if st, body := root.do("PUT", "/api/v1/domains/a.example/admins", map[string]any{"admins": []string{"root@sys.example"}}); st != http.StatusBadRequest || errorCode(t, body) != "invalid" {
		t.Errorf("a system admin as domain admin: %d %s", st, body)
	}
}

// Delete with grace: the domain refuses its users at once, is listed apart in the console
// with Restore, refuses changes, and the console's Restore brings it back as it was.
func TestDomainDeleteRestoreWeb(t *testing.T) {
	h := newHarness(t, nil)
	root, user := h.loggedIn("root@sys.example"), h.loggedIn("u1@b.example")
	if st, body := root.do("DELETE", "/api/v1/domains/b.example", nil); st != http.StatusConflict || errorCode(t, body) != "domain_not_empty" {
		t.Errorf("delete without force: %d %s", st, body)
	}
	if st, body := root.do("DELETE", "/api/v1/domains/b.example?force=true", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d %s", st, body)
	}
	st, body := root.do("GET", "/api/v1/domains/b.example", nil)
	if st != http.StatusOK || !strings.Contains(string(body), `"purge_at"`) || !strings.Contains(string(body), `"enabled":false`) {
		t.Errorf("deleted domain: %d %s", st, body)
	}
	if st, body := user.do("GET", "/api/v1/me", nil); st != http.StatusForbidden {
		t.Errorf("a user of the deleted domain: %d %s", st, body)
	}
	if st, body := h.loggedIn("da@a.example").do("GET", "/api/v1/domains", nil); st != http.StatusOK || strings.Contains(string(body), "b.example") {
		t.Errorf("domain list: %d %s", st, body)
	}
	if st, body := root.do("PATCH", "/api/v1/domains/b.example", map[string]any{"max_users": 3}); st != http.StatusConflict || errorCode(t, body) != "domain_deleted" {
		t.Errorf("change a deleted domain: %d %s", st, body)
	}
	page := readAll(t, root.raw("GET", "/console/", nil))
	live, deleted, _ := strings.Cut(page, `id="deleted-domains"`)
	if strings.Contains(live, `href="/console/domains/b.example"`) || !strings.Contains(deleted, `action="/console/domains/b.example/restore"`) {
		t.Errorf("home page does not list b.example apart:\n%s", page)
	}
	resp := root.form("/console/domains/b.example/restore", url.Values{"csrf_token": {root.csrf}})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "done=domain-restored") {
		t.Errorf("console restore: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	st, body = root.do("GET", "/api/v1/domains/b.example", nil)
	if st != http.StatusOK || strings.Contains(string(body), `"purge_at"`) || !strings.Contains(string(body), `"enabled":true`) {
		t.Errorf("restored domain: %d %s", st, body)
	}
	// The refused session has ended; the user signs in again.
	if st, body := h.loggedIn("u1@b.example").do("GET", "/api/v1/me", nil); st != http.StatusOK {
		t.Errorf("the user after the restore: %d %s", st, body)
	}
	if st, body := root.do("POST", "/api/v1/domains/b.example/restore", nil); st != http.StatusOK {
		t.Errorf("restore of a live domain: %d %s", st, body)
	}
}

// Alias domains: a system admin adds one (API and console), the domain's admin sees it,
// another domain's admin does not, and only a system admin removes it.
func TestAliasDomainsWeb(t *testing.T) {
	h := newHarness(t, nil)
	root, da, other := h.loggedIn("root@sys.example"), h.loggedIn("da@a.example"), h.loggedIn("da@b.example")
	if st, _ := da.do("POST", "/api/v1/domains/a.example/alias-domains", map[string]any{"name": "a.org"}); st != http.StatusForbidden {
		t.Errorf("domain admin adds an alias domain: %d", st)
	}
	if st, body := root.do("POST", "/api/v1/domains/a.example/alias-domains", map[string]any{"name": "A.ORG"}); st != http.StatusCreated ||
		!strings.Contains(string(body), `"name":"a.org"`) {
		t.Fatalf("add: %d %s", st, body)
	}
	if st, body := root.do("POST", "/api/v1/domains/a.example/alias-domains", map[string]any{"name": "b.example"}); st != http.StatusConflict {
		t.Errorf("a domain as alias domain: %d %s", st, body)
	}
	if st, body := da.do("GET", "/api/v1/domains/a.example/alias-domains", nil); st != http.StatusOK || !strings.Contains(string(body), "a.org") {
		t.Errorf("domain admin's list: %d %s", st, body)
	}
	if st, body := other.do("GET", "/api/v1/domains/a.example/alias-domains", nil); st != http.StatusNotFound {
		t.Errorf("other domain admin's list: %d %s", st, body)
	}
	page := readAll(t, da.raw("GET", "/console/domains/a.example/admins", nil))
	if !strings.Contains(page, "a.org") || strings.Contains(page, `id="set-admins"`) || strings.Contains(page, `id="add-alias-domain"`) {
		t.Errorf("domain admin's page:\n%s", page)
	}
	dns := readAll(t, da.raw("GET", "/console/domains/a.example/dns", nil))
	if !strings.Contains(dns, "_dmarc.a.org") {
		t.Errorf("DNS page lacks the alias domain:\n%s", dns)
	}
	resp := root.form("/console/domains/a.example/admins/alias-add", url.Values{"csrf_token": {root.csrf}, "name": {"a.net"}})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("console add: %d", resp.StatusCode)
	}
	if st, body := da.do("DELETE", "/api/v1/domains/a.example/alias-domains?name=a.org", nil); st != http.StatusForbidden {
		t.Errorf("domain admin removes: %d %s", st, body)
	}
	if st, body := root.do("DELETE", "/api/v1/domains/a.example/alias-domains?name=a.org", nil); st != http.StatusNoContent {
		t.Errorf("remove: %d %s", st, body)
	}
	if st, body := root.do("GET", "/api/v1/domains/a.example/alias-domains", nil); st != http.StatusOK || strings.Contains(string(body), "a.org") ||
		!strings.Contains(string(body), "a.net") {
		t.Errorf("after remove: %d %s", st, body)
	}
}
