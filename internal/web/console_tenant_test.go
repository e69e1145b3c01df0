package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// Tenant isolation through the console: a domain admin of a.example who types b.example's
// URLs, or posts b.example's forms with a valid session and CSRF token, is refused by the
// server (404: another tenant's objects are not found) and nothing changes, whatever the
// pages show. Within its own domain the same forms work, except raising a role.
func TestConsoleTenantIsolation(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	da := h.loggedIn("da@a.example")
	ub := h.acct["u1@b.example"]
	idB := itoa(ub.ID)
	before, err := h.env.Dir.Domain(ctx, "b.example")
	if err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{
		"/console/domains/b.example",
		"/console/domains/B.EXAMPLE",
		"/console/domains/b.example/accounts/" + idB,
		"/console/domains/a.example/accounts/" + idB, // B's id under A's name
		"/console/domains/sys.example/accounts/" + itoa(h.acct["root@sys.example"].ID),
	} {
		resp := da.raw("GET", path, nil)
		page := readAll(t, resp)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "u1@b.example") {
			t.Errorf("GET %s: %d\n%s", path, resp.StatusCode, page)
		}
	}

	posts := []struct {
		path string
		form url.Values
	}{
		{"/console/domains/b.example/update", url.Values{"enabled": {"false"}, "max_users": {"1"}, "services_form": {"1"}}},
		{"/console/domains/b.example/delete", url.Values{"confirm": {"b.example"}, "force": {"true"}}},
		{"/console/domains/b.example/plan", url.Values{"plan": {""}}},
		{"/console/domains/b.example/accounts", url.Values{"address": {"evil@b.example"}, "password": {"evil password 1"}}},
		{"/console/domains/a.example/accounts", url.Values{"address": {"evil@b.example"}, "password": {"evil password 1"}}},
		{"/console/domains/b.example/aliases", url.Values{"source": {"evil@b.example"}, "targets": {"da@a.example"}}},
		{"/console/domains/b.example/alias-delete", url.Values{"source": {"info@b.example"}}},
		{"/console/domains/b.example/import", url.Values{"csv": {"address,password\nevil@b.example,evil password 1\n"}}},
		{"/console/domains/b.example/broadcast", url.Values{"subject": {"evil"}, "body": {"evil"}}},
	}
	for _, op := range []string{"enabled", "password", "quota", "role", "services", "delete"} {
		f := url.Values{"enabled": {"false"}, "password": {"taken over 1"}, "quota": {"1K"}, "role": {"domain-admin"},
			"admin_domains": {"a.example"}, "services_form": {"1"}, "confirm": {"u1@b.example"}}
		posts = append(posts,
			struct {
				path string
				form url.Values
			}{"/console/domains/b.example/accounts/" + idB + "/" + op, f},
			struct {
				path string
				form url.Values
			}{"/console/domains/a.example/accounts/" + idB + "/" + op, f})
	}
	for _, p := range posts {
		p.form.Set("csrf_token", da.csrf)
		resp := da.form(p.path, p.form)
		page := readAll(t, resp)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s: %d\n%s", p.path, resp.StatusCode, page)
		}
	}
	// Nothing of b.example changed.
	after, err := h.env.Dir.Domain(ctx, "b.example")
	if err != nil || after.Enabled != before.Enabled || after.MaxUsers != before.MaxUsers || len(after.DisabledServices) != 0 {
		t.Errorf("b.example changed: %+v -> %+v (%v)", before, after, err)
	}
	a, err := h.env.Dir.Account(ctx, ub.Address)
	if err != nil || !a.Enabled || a.QuotaBytes != ub.QuotaBytes || a.Role != directory.RoleUser || len(a.DisabledServices) != 0 {
		t.Errorf("u1@b.example changed: %+v (%v)", a, err)
	}
	if _, err := h.env.Dir.Authenticate(ctx, "u1@b.example", pw); err != nil {
		t.Errorf("u1@b.example's password changed: %v", err)
	}
	if _, err := h.env.Dir.Account(ctx, mail.MustParse("evil@b.example")); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("account created in b.example: %v", err)
	}
	if n := len(h.env.Messages(t, ub, "")); n != 0 {
		t.Errorf("u1@b.example got %d messages", n)
	}
	if als, err := h.env.Dir.Aliases(ctx, "b.example"); err != nil || len(als) != 1 || als[0].Source != "info@b.example" {
		t.Errorf("b.example aliases: %+v %v", als, err)
	}

	// The accounts search and the audit log show only a.example: the system admin's
	// change in b.example is in its log, not in the domain admin's.
	root := h.loggedIn("root@sys.example")
	resp0 := root.form("/console/domains/b.example/aliases", url.Values{"csrf_token": {root.csrf},
		"source": {"sales@b.example"}, "targets": {"u1@b.example"}})
	closeBody(t, resp0)
	if page := readAll(t, root.raw("GET", "/console/audit?domain=b.example", nil)); resp0.StatusCode != http.StatusSeeOther ||
		!strings.Contains(page, "sales@b.example") {
		t.Fatalf("system admin's alias and audit: %d\n%s", resp0.StatusCode, page)
	}
	for _, path := range []string{"/console/accounts", "/console/accounts?q=b.example", "/console/audit", "/console/audit?domain=b.example"} {
		page := readAll(t, da.raw("GET", path, nil))
		if strings.Contains(page, "@b.example") || strings.Contains(page, "<td>b.example") {
			t.Errorf("%s shows b.example:\n%s", path, page)
		}
	}

	// In its own domain: create a user, disable it; raising a role beyond its own is refused.
	resp := da.form("/console/domains/a.example/accounts", url.Values{"csrf_token": {da.csrf}, "address": {"new"},
		"password": {"new user password"}, "quota": {"10M"}, "role": {"user"}})
	closeBody(t, resp)
	n, err := h.env.Dir.Account(ctx, mail.MustParse("new@a.example"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || n.QuotaBytes != 10<<20 {
		t.Fatalf("create in own domain: %d %+v %v", resp.StatusCode, n, err)
	}
	base := "/console/domains/a.example/accounts/" + itoa(n.ID)
	closeBody(t, da.form(base+"/enabled", url.Values{"csrf_token": {da.csrf}, "enabled": {"false"}}))
	if n, err = h.env.Dir.Account(ctx, n.Address); err != nil || n.Enabled {
		t.Errorf("disable in own domain: %+v %v", n, err)
	}
	resp = da.form(base+"/role", url.Values{"csrf_token": {da.csrf}, "role": {"system-admin"}})
	if page := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, `class="error"`) {
		t.Errorf("grant system-admin: %d\n%s", resp.StatusCode, page)
	}
	resp = da.form(base+"/delete", url.Values{"csrf_token": {da.csrf}, "confirm": {"someone-else@a.example"}})
	closeBody(t, resp)
	if _, err := h.env.Dir.Account(ctx, n.Address); resp.StatusCode != http.StatusBadRequest || err != nil {
		t.Errorf("delete with a wrong confirmation: %d %v", resp.StatusCode, err)
	}
	resp = da.form(base+"/delete", url.Values{"csrf_token": {da.csrf}, "confirm": {"new@a.example"}})
	closeBody(t, resp)
	if _, err := h.env.Dir.Account(ctx, n.Address); resp.StatusCode != http.StatusSeeOther || !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("delete: %d %v", resp.StatusCode, err)
	}

	// A plain user reaches none of the administration pages.
	u := h.loggedIn("u1@a.example")
	for _, path := range []string{"/console/domains/a.example", "/console/domains/a.example/accounts/" + itoa(h.acct["u2@a.example"].ID)} {
		resp := u.raw("GET", path, nil)
		closeBody(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("user GET %s: %d", path, resp.StatusCode)
		}
	}
	resp = u.form("/console/domains/a.example/accounts", url.Values{"csrf_token": {u.csrf}, "address": {"x"}, "password": {"x password 1"}})
	closeBody(t, resp)
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Errorf("user creates an account: %d", resp.StatusCode)
	}
}
