package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMailContactsGroupEditors: the domain admin names u1 a permitted editor of the
// group book; u1 then edits it, u2 still gets 403; a user cannot set the list, another
// domain's admin cannot name this domain's accounts (nor change this domain's list), a
// bad address refuses the whole list; removing u1 takes the right away.
func TestMailContactsGroupEditors(t *testing.T) {
	h := contactsHarness(t)
	da, u1, u2, dab := h.loggedIn("da@a.example"), h.loggedIn("u1@a.example"), h.loggedIn("u2@a.example"), h.loggedIn("da@b.example")
	save := func(c *client, name string) int {
		t.Helper()
		st, _, _ := c.post("/mail/contacts", url.Values{"op": {"save"}, "book": {"group"}, "name": {name}, "emails": {"help@a.example"}})
		return st
	}
	editors := func(c *client, list string) (int, string) {
		t.Helper()
		st, loc, body := c.post("/mail/contacts", url.Values{"op": {"editors"}, "book": {"group"}, "editors": {list}})
		return st, loc + body
	}
	if st := save(u1, "Helpdesk"); st != http.StatusForbidden {
		t.Fatalf("u1 before being permitted: %d", st)
	}
	// Refusals change nothing.
	if st, _ := editors(u1, "u1@a.example"); st != http.StatusForbidden {
		t.Fatalf("a user sets the editors: %d", st)
	}
	if st, body := editors(dab, "u1@a.example"); st != http.StatusBadRequest || !strings.Contains(body, "not an account of your domain") {
		t.Fatalf("another domain's admin names a.example's account: %d\n%s", st, body)
	}
	if st, body := editors(da, "u1@a.example\nnobody@a.example"); st != http.StatusBadRequest || !strings.Contains(body, "nobody@a.example") {
		t.Fatalf("unknown account: %d\n%s", st, body)
	}
	if st := save(u1, "Helpdesk"); st != http.StatusForbidden {
		t.Fatalf("u1 after refused lists: %d", st)
	}

	if st, loc := editors(da, " U1@a.example \n\n"); st != http.StatusSeeOther || !strings.Contains(loc, "saved=editors") {
		t.Fatalf("domain admin sets the editors: %d %s", st, loc)
	}
	if _, _, page := da.get("/mail/contacts?book=group"); !strings.Contains(page, `<textarea name="editors" id="editors" rows="4" cols="40">u1@a.example</textarea>`) {
		t.Fatalf("editors form:\n%s", page)
	}
	if st := save(u1, "Helpdesk"); st != http.StatusSeeOther {
		t.Fatalf("permitted u1 edits the group book: %d", st)
	}
	if _, _, page := u1.get("/mail/contacts?book=group"); !strings.Contains(page, "Helpdesk") || !strings.Contains(page, "Delete this contact?") || strings.Contains(page, `id="contact-editors"`) {
		t.Fatalf("group book for a permitted editor:\n%s", page)
	}
	if st := save(u2, "Other"); st != http.StatusForbidden {
		t.Fatalf("non-permitted u2: %d", st)
	}
	// b.example's admin sets b.example's own list; a.example's stays.
	if st, _ := editors(dab, "u2@b.example"); st != http.StatusSeeOther {
		t.Fatalf("b admin, own domain: %d", st)
	}
	if st := save(u1, "Helpdesk 2"); st != http.StatusSeeOther {
		t.Fatalf("u1 after b.example's change: %d", st)
	}
	// Cleared: u1 loses the right.
	if st, _ := editors(da, ""); st != http.StatusSeeOther {
		t.Fatalf("clear: %d", st)
	}
	if st := save(u1, "Helpdesk 3"); st != http.StatusForbidden {
		t.Fatalf("u1 after removal: %d", st)
	}
}
