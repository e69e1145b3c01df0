package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/contacts"
	"mailgrid/internal/store"
)

// groupID finds the data-group-id of the group row named name on a contacts page.
func groupID(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `<td class="g-name">`+name+`</td>`)
	if i < 0 {
		t.Fatalf("no group %q on the page:\n%s", name, page)
	}
	j := strings.LastIndex(page[:i], `data-group-id="`)
	rest := page[j+len(`data-group-id="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestMailContactGroups(t *testing.T) {
	h := contactsHarness(t)
	c := h.loggedIn("u1@a.example")
	if st, _ := c.upload("personal", "cards.vcf", twoCards, c.csrf); st != http.StatusSeeOther {
		t.Fatal(st)
	}
	// Create a group; a bad member refuses the form and stores nothing.
	if st, _, body := c.post("/mail/contacts", url.Values{"op": {"save-group"}, "name": {"Team"}, "members": {"zoe@remote.example\nnot an address"}}); st != http.StatusBadRequest || !strings.Contains(body, "not an address") {
		t.Fatalf("bad member: %d %s", st, body)
	}
	if st, loc, body := c.post("/mail/contacts", url.Values{"op": {"save-group"}, "name": {"Team"}, "members": {"zoe@remote.example"}}); st != http.StatusSeeOther || !strings.Contains(loc, "saved=group") {
		t.Fatalf("save group: %d %s %s", st, loc, body)
	}
	_, _, page := c.get("/mail/contacts")
	id := groupID(t, page, "Team")
	if strings.Contains(page, "groups-empty") || !strings.Contains(page, "Add to group") {
		t.Fatalf("list:\n%s", page)
	}
	// Add a contact's address from its row, then remove another; rename.
	if st, loc, _ := c.post("/mail/contacts", url.Values{"op": {"add-member"}, "id": {id}, "email": {"adam@remote.example"}}); st != http.StatusSeeOther || !strings.Contains(loc, "edit="+id) {
		t.Fatalf("add member: %d %s", st, loc)
	}
	if st, _, _ := c.post("/mail/contacts", url.Values{"op": {"add-member"}, "id": {id}, "email": {"ADAM@remote.example"}}); st != http.StatusSeeOther {
		t.Fatalf("add a member twice: %d", st)
	}
	if st, _, _ := c.post("/mail/contacts", url.Values{"op": {"remove-member"}, "id": {id}, "email": {"zoe@remote.example"}}); st != http.StatusSeeOther {
		t.Fatalf("remove member: %d", st)
	}
	if st, _, _ := c.post("/mail/contacts", url.Values{"op": {"save-group"}, "id": {id}, "name": {"Core"}, "members": {"adam@remote.example\nbea@remote.example"}}); st != http.StatusSeeOther {
		t.Fatalf("rename: %d", st)
	}
	_, _, page = c.get("/mail/contacts?edit=" + id)
	if !strings.Contains(page, `<td class="g-members">adam@remote.example, bea@remote.example</td>`) || !strings.Contains(page, `id="g-member-list"`) {
		t.Fatalf("after edits:\n%s", page)
	}
	// Completion offers the group by name, expanded to its members.
	var comp []struct {
		Name, Value string
		Group       bool
		Members     int
	}
	_, _, js := c.get("/mail/contacts/complete?q=cor")
	if err := json.Unmarshal([]byte(js), &comp); err != nil || len(comp) != 1 || !comp[0].Group || comp[0].Members != 2 ||
		comp[0].Value != "adam@remote.example, bea@remote.example" {
		t.Fatalf("complete: %s %v", js, err)
	}
	// vCard export carries the group; importing it elsewhere gives the same group.
	_, _, vcf := c.get("/mail/contacts/export?format=vcf")
	if !strings.Contains(vcf, "KIND:group\r\n") || !strings.Contains(vcf, "MEMBER:mailto:bea@remote.example\r\n") {
		t.Fatalf("export:\n%s", vcf)
	}
	u2 := h.loggedIn("u2@a.example")
	if st, body := u2.upload("personal", "export.vcf", vcf, u2.csrf); st != http.StatusSeeOther {
		t.Fatalf("re-import: %d %s", st, body)
	}
	cs, err := contacts.ParseVCard(strings.NewReader(vcf))
	groups := 0
	for _, ct := range cs {
		if ct.IsGroup() {
			groups++
		}
	}
	if err != nil || len(cs) != 3 || groups != 1 {
		t.Fatalf("export parses to %+v %v", cs, err)
	}
	_, _, page2 := u2.get("/mail/contacts")
	if !strings.Contains(page2, `<td class="g-members">adam@remote.example, bea@remote.example</td>`) {
		t.Fatalf("imported group:\n%s", page2)
	}
	// Another account cannot touch the group; a contact is not a group.
	other := h.loggedIn("u1@b.example")
	if st, _, _ := other.post("/mail/contacts", url.Values{"op": {"add-member"}, "id": {id}, "email": {"x@remote.example"}}); st != http.StatusNotFound {
		t.Fatalf("another domain adds a member: %d", st)
	}
	_, _, page = c.get("/mail/contacts?q=zoe")
	j := strings.Index(page, `data-contact-id="`)
	cid := page[j+17 : j+17+strings.IndexByte(page[j+17:], '"')]
	if st, _, _ := c.post("/mail/contacts", url.Values{"op": {"add-member"}, "id": {cid}, "email": {"x@remote.example"}}); st != http.StatusNotFound {
		t.Fatalf("a member added to a contact: %d", st)
	}
	if st, _, _ := c.post("/mail/contacts", url.Values{"op": {"delete"}, "id": {id}}); st != http.StatusSeeOther {
		t.Fatalf("delete group: %d", st)
	}
	if _, _, page := c.get("/mail/contacts"); !strings.Contains(page, "groups-empty") || !strings.Contains(page, "Zoe Zed") {
		t.Fatal("after deleting the group")
	}
}

// TestMailComposeGroupName: a group's name typed in To/Cc/Bcc (without completion) is
// sent to its members; an unknown name is refused as before.
func TestMailComposeGroupName(t *testing.T) {
	h := contactsHarness(t)
	c := h.loggedIn("u1@a.example")
	if st, _, body := c.post("/mail/contacts", url.Values{"op": {"save-group"}, "name": {"Dev, Team"}, "members": {"u2@a.example\nda@a.example"}}); st != http.StatusSeeOther {
		t.Fatalf("save group: %d %s", st, body)
	}
	send := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {`"dev, team"`}, "cc": {""}, "bcc": {""}, "subject": {"to the group"}, "body": {"hi all"}}
	if st, loc, body := c.multipartPost("/mail/compose", send, nil); st != http.StatusSeeOther {
		t.Fatalf("send to a group name: %d %s %s", st, loc, body)
	}
	for _, rcpt := range []string{"u2@a.example", "da@a.example"} {
		if got := h.msgs(rcpt, h.box(rcpt, store.Inbox)); len(got) != 1 {
			t.Fatalf("%s received %d", rcpt, len(got))
		}
	}
	send.Set("to", "Nobody Team")
	if st, _, _ := c.multipartPost("/mail/compose", send, nil); st != http.StatusUnprocessableEntity {
		t.Fatalf("an unknown name: %d", st)
	}
}
