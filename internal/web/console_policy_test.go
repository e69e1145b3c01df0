package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

// expectPage GETs path and checks the status and that the page contains want.
func expectPage(t *testing.T, c *client, path string, status int, want ...string) string {
	t.Helper()
	resp := c.raw("GET", path, nil)
	page := readAll(t, resp)
	if resp.StatusCode != status {
		t.Errorf("GET %s: %d, want %d\n%s", path, resp.StatusCode, status, page)
	}
	if !strings.HasSuffix(strings.TrimSpace(page), "</html>") {
		t.Errorf("GET %s: the page is cut short (a template error?)\n%s", path, page)
	}
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("GET %s does not show %q\n%s", path, w, page)
		}
	}
	return page
}

// postForm posts a console form with the session's CSRF token and checks the status
// (303 for success) and, for a redirect, where to.
func postForm(t *testing.T, c *client, path string, f url.Values, status int, location string) {
	t.Helper()
	f.Set("csrf_token", c.csrf)
	resp := c.form(path, f)
	page := readAll(t, resp)
	if resp.StatusCode != status {
		t.Errorf("POST %s: %d, want %d\n%s", path, resp.StatusCode, status, page)
	}
	if location != "" && resp.Header.Get("Location") != location {
		t.Errorf("POST %s: to %q, want %q", path, resp.Header.Get("Location"), location)
	}
}

// The plans pages: a system admin lists, creates, edits and deletes plans; nobody else
// reaches them.
func TestConsolePlans(t *testing.T) {
	h := newHarness(t, nil)
	root := h.loggedIn("root@sys.example")
	expectPage(t, root, "/console/plans", http.StatusOK, "No plans.", "/console/plans\" class=\"grid\" id=\"add-plan\"")
	postForm(t, root, "/console/plans", url.Values{"name": {"gold"}, "description": {"the best"}, "mailbox_quota": {"2G"},
		"max_message": {"25M"}, "max_users": {"50"}, "antivirus": {"on"}, "disabled": {"pop3"}}, http.StatusSeeOther, "/console/plans/gold?done=plan-created")
	expectPage(t, root, "/console/plans", http.StatusOK, `href="/console/plans/gold"`, "2G", "pop3")
	postForm(t, root, "/console/plans/gold/update", url.Values{"mailbox_quota": {"1G"}, "max_users": {"10"}}, http.StatusSeeOther, "/console/plans/gold?done=plan-updated")
	expectPage(t, root, "/console/plans/gold?done=plan-updated", http.StatusOK, "Plan updated.", `value="1G"`)
	postForm(t, root, "/console/plans", url.Values{"name": {"Not A Name"}}, http.StatusBadRequest, "")
	postForm(t, root, "/console/plans/gold/delete", url.Values{"confirm": {"silver"}}, http.StatusBadRequest, "")
	for _, who := range []string{"da@a.example", "u1@a.example"} {
		c := h.loggedIn(who)
		expectPage(t, c, "/console/plans", http.StatusForbidden)
		expectPage(t, c, "/console/plans/gold", http.StatusForbidden)
		postForm(t, c, "/console/plans/gold/delete", url.Values{"confirm": {"gold"}}, http.StatusForbidden, "")
	}
	postForm(t, root, "/console/plans/gold/delete", url.Values{"confirm": {"gold"}}, http.StatusSeeOther, "/console/plans?done=plan-deleted")
	expectPage(t, root, "/console/plans", http.StatusOK, "No plans.")
}

// The filters pages: a domain admin manages its domain's block list, rules, switches and
// quarantine (a release delivers), reaches neither another domain's nor the system's,
// and a user reaches none; the DNS page lists the records and their check.
func TestConsoleFilters(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	da := h.loggedIn("da@a.example")
	const fa = "/console/domains/a.example/filters"
	expectPage(t, da, fa, http.StatusOK, "Nothing blocked.", "No rules.", "Nothing held.", "Scan for viruses")
	postForm(t, da, fa+"/block-add", url.Values{"kind": {"sender-domain"}, "value": {"Spam.Example"}, "note": {"junk"}},
		http.StatusSeeOther, fa+"?done=block-added")
	postForm(t, da, fa+"/block-add", url.Values{"kind": {"ip"}, "value": {"not an ip"}}, http.StatusBadRequest, "")
	postForm(t, da, fa+"/rule-add", url.Values{"name": {"hold-offers"}, "field": {"subject"}, "op": {"contains"},
		"value": {"offer"}, "action": {"quarantine"}, "arg": {"offers"}}, http.StatusSeeOther, fa+"?done=rule-added")
	postForm(t, da, fa+"/switches", url.Values{"antivirus": {"on"}}, http.StatusSeeOther, fa+"?done=switches-saved")
	expectPage(t, da, fa, http.StatusOK, "spam.example", "junk", "hold-offers", "subject contains offer")
	if sw, err := h.env.Filter.DomainSwitches(ctx, "a.example"); err != nil || sw.NoAntivirus || !sw.NoAntispam {
		t.Errorf("switches of a.example: %+v %v", sw, err)
	}

	// Held mail of both domains; the domain admin releases its own, not B's.
	u1 := h.acct["u1@a.example"]
	held, err := h.env.Filter.Hold(ctx, []filter.Held{
		{Domain: "a.example", Account: u1.ID, Rcpt: u1.Address, From: mail.MustParse("x@remote.example"), Reason: "offers", Mailet: "rule"},
		{Domain: "b.example", Account: h.acct["u1@b.example"].ID, Rcpt: mail.MustParse("u1@b.example"), From: mail.MustParse("x@remote.example"), Reason: "b's", Mailet: "rule"},
	}, body.Bytes([]byte("From: x@remote.example\r\nSubject: an offer\r\n\r\nbuy\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	expectPage(t, da, fa, http.StatusOK, "x@remote.example", "offers")
	postForm(t, da, fa+"/release", url.Values{"id": {itoa(held[1].ID)}}, http.StatusNotFound, "")
	postForm(t, da, "/console/domains/b.example/filters/release", url.Values{"id": {itoa(held[1].ID)}}, http.StatusNotFound, "")
	postForm(t, da, fa+"/release", url.Values{"id": {itoa(held[0].ID)}}, http.StatusSeeOther, fa+"?done=held-released")
	if n := h.env.Total(t, u1); n != 1 {
		t.Errorf("u1@a.example has %d messages after the release, want 1", n)
	}
	expectPage(t, da, fa, http.StatusOK, "Nothing held.")

	// Another tenant and the system: refused, and B's state is unchanged.
	expectPage(t, da, "/console/domains/b.example/filters", http.StatusNotFound)
	expectPage(t, da, "/console/system", http.StatusForbidden)
	postForm(t, da, "/console/domains/b.example/filters/block-add", url.Values{"kind": {"sender"}, "value": {"a@b.example"}}, http.StatusNotFound, "")
	postForm(t, da, "/console/system/block-add", url.Values{"kind": {"sender"}, "value": {"a@b.example"}}, http.StatusForbidden, "")
	postForm(t, da, "/console/domains/b.example/filters/held-delete", url.Values{"id": {itoa(held[1].ID)}}, http.StatusNotFound, "")
	for _, d := range []string{"", "b.example"} {
		if bs, err := h.env.Filter.Blocks(ctx, d); err != nil || len(bs) != 0 {
			t.Errorf("block list %q: %+v %v", d, bs, err)
		}
	}
	if hs, err := h.env.Filter.List(ctx, filter.QuarantineQuery{Domain: "b.example"}); err != nil || len(hs) != 1 {
		t.Errorf("b.example's held mail: %+v %v", hs, err)
	}
	u := h.loggedIn("u1@a.example")
	expectPage(t, u, fa, http.StatusNotFound)
	expectPage(t, u, "/console/system", http.StatusForbidden)
	expectPage(t, u, "/console/domains/a.example/dns", http.StatusNotFound)

	// The system page: the system admin sees every domain's held mail and deletes B's.
	root := h.loggedIn("root@sys.example")
	expectPage(t, root, "/console/system", http.StatusOK, "System-wide filters", "b.example", "b&#39;s")
	postForm(t, root, "/console/system/held-delete", url.Values{"id": {itoa(held[1].ID)}, "domain": {"b.example"}},
		http.StatusSeeOther, "/console/system?done=held-deleted")
	postForm(t, root, "/console/system/block-add", url.Values{"kind": {"ip"}, "value": {"192.0.2.7"}}, http.StatusSeeOther, "/console/system?done=block-added")
	expectPage(t, root, "/console/system", http.StatusOK, "192.0.2.7/32", "Nothing held.")

	// DNS: the records, and the check through the (unreachable) resolver.
	expectPage(t, da, "/console/domains/a.example/dns", http.StatusOK, "v=spf1 mx -all", "10 mx.test.", "_dmarc.a.example")
	expectPage(t, da, "/console/domains/a.example/dns?check=1", http.StatusOK, "lookup failed", "not checked")
	expectPage(t, da, "/console/domains/b.example/dns", http.StatusNotFound)
}
