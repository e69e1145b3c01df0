package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/contacts"
	"mailgrid/internal/contacts/sqlite"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

func contactsHarness(t *testing.T) *harness {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return mailHarness(t, func(o *web.MailOptions, _ *deliverytest.Env) { o.Contacts = db })
}

// upload posts an import form with file name -> content.
func (c *client) upload(book, name, content string, csrf string) (int, string) {
	c.h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range map[string]string{"csrf_token": csrf, "op": "import", "book": book} {
		if err := mw.WriteField(k, v); err != nil {
			c.h.t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", name)
	if err == nil {
		_, err = io.WriteString(fw, content)
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		c.h.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", c.h.base+"/mail/contacts", &buf)
	if err != nil {
		c.h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.hc.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	defer closeBody(c.h.t, resp)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const twoCards = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Zoe Zed\r\nEMAIL:zoe@remote.example\r\nTEL:+1 555 0101\r\nEND:VCARD\r\n" +
	"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Adam Alpha\r\nEMAIL:adam@remote.example\r\nNOTE:a note\r\nEND:VCARD\r\n"

func TestMailContacts(t *testing.T) {
	h := contactsHarness(t)
	c := h.loggedIn("u1@a.example")
	if st, body := c.upload("personal", "cards.vcf", twoCards, c.csrf); st != http.StatusSeeOther {
		t.Fatalf("import: %d %s", st, body)
	}
	st, _, body := c.get("/mail/contacts")
	if st != 200 || !strings.Contains(body, "Zoe Zed") || strings.Index(body, "Adam Alpha") > strings.Index(body, "Zoe Zed") {
		t.Fatalf("list %d:\n%s", st, body)
	}
	// Export equals what was imported (vCard round trip through the store).
	st, hdr, vcf := c.get("/mail/contacts/export?format=vcf")
	got, err := contacts.ParseVCard(strings.NewReader(vcf))
	if st != 200 || err != nil || len(got) != 2 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/vcard") {
		t.Fatalf("export %d %v %s", st, err, vcf)
	}
	want, _ := contacts.ParseVCard(strings.NewReader(twoCards))
	if got[0].Name != want[1].Name || got[1].Email() != want[0].Email() || got[0].Note != "a note" {
		t.Fatalf("export %+v", got)
	}
	// CSV export, and the order by address (adam@ before zoe@ either way; by name in reverse
	// of the vCard order is checked above).
	st, hdr, csvText := c.get("/mail/contacts/export?format=csv")
	if st != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || csvText != "Name,Email,Phone,Note\nAdam Alpha,adam@remote.example,,a note\nZoe Zed,zoe@remote.example,+1 555 0101,\n" {
		t.Fatalf("csv export %d %q", st, csvText)
	}
	if _, _, body := c.get("/mail/contacts?sort=email"); strings.Index(body, "adam@remote.example") > strings.Index(body, "zoe@remote.example") {
		t.Fatal("sort by e-mail")
	}
	// A CSV with bad lines is refused with their numbers; nothing is imported.
	st, body = c.upload("personal", "bad.csv", "Name,Email\nOk,ok@remote.example\nBad,nope\n", c.csrf)
	if st != http.StatusBadRequest || !strings.Contains(body, "line 3") {
		t.Fatalf("bad csv: %d %s", st, body)
	}
	if _, _, body := c.get("/mail/contacts"); strings.Contains(body, "ok@remote.example") {
		t.Fatal("a refused import left a contact")
	}
	// A stale token is refused, multipart or not.
	if st, _ := c.upload("personal", "cards.vcf", twoCards, "wrong"); st != http.StatusForbidden {
		t.Fatalf("import without CSRF: %d", st)
	}
	if st, _, _ := c.post("/mail/contacts", url.Values{"op": {"save"}, "name": {"x"}, "csrf_token": {"wrong"}}); st != http.StatusForbidden {
		t.Fatalf("save without CSRF: %d", st)
	}
	// Add, search, completion.
	if st, loc, body := c.post("/mail/contacts", url.Values{"op": {"save"}, "name": {"Bea Beta"}, "emails": {"bea@remote.example"}}); st != http.StatusSeeOther {
		t.Fatalf("add: %d %s %s", st, loc, body)
	}
	if st, _, body := c.post("/mail/contacts", url.Values{"op": {"save"}, "name": {"Evil"}, "emails": {"x@y\r\nBcc: z@w"}}); st != http.StatusBadRequest {
		t.Fatalf("header injection accepted: %d %s", st, body)
	}
	_, _, body = c.get("/mail/contacts?q=BETA")
	if !strings.Contains(body, "Bea Beta") || strings.Contains(body, "Zoe Zed") {
		t.Fatalf("search:\n%s", body)
	}
	var comp []struct{ Name, Email, Value string }
	_, _, js := c.get("/mail/contacts/complete?q=ze")
	if err := json.Unmarshal([]byte(js), &comp); err != nil || len(comp) != 1 || comp[0].Value != `"Zoe Zed" <zoe@remote.example>` {
		t.Fatalf("complete: %s %v", js, err)
	}
	// Add the sender of a message from the message view.
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "hello", "m1", "u1"))
	in := h.box("u1@a.example", store.Inbox)
	msgs := h.msgs("u1@a.example", in)
	_, _, page := c.get(fmt.Sprintf("/mail/m/%d/%d", in.ID, msgs[0].UID))
	if !strings.Contains(page, `id="add-sender"`) {
		t.Fatalf("no add-sender button:\n%s", page)
	}
	i := strings.Index(page, `name="from" value="`)
	from := page[i+len(`name="from" value="`):]
	from = strings.ReplaceAll(strings.ReplaceAll(from[:strings.IndexByte(from, '"')], "&lt;", "<"), "&gt;", ">")
	if st, _, body := c.post("/mail/contacts", url.Values{"op": {"add-sender"}, "from": {from}}); st != http.StatusSeeOther {
		t.Fatalf("add sender %q: %d %s", from, st, body)
	}
}

func TestMailContactsIsolationAndGroup(t *testing.T) {
	h := contactsHarness(t)
	u1, u2, da, other := h.loggedIn("u1@a.example"), h.loggedIn("u2@a.example"), h.loggedIn("da@a.example"), h.loggedIn("u1@b.example")
	if st, _, _ := u1.post("/mail/contacts", url.Values{"op": {"save"}, "name": {"Private Pat"}, "emails": {"pat@remote.example"}}); st != http.StatusSeeOther {
		t.Fatal(st)
	}
	for _, c := range []*client{u2, other} {
		if _, _, body := c.get("/mail/contacts"); strings.Contains(body, "Private Pat") {
			t.Fatal("another account sees a personal contact")
		}
		if _, _, js := c.get("/mail/contacts/complete?q=pat"); js != "[]\n" {
			t.Fatalf("another account completes a personal contact: %s", js)
		}
	}
	// The personal contact's id, deleted by another account: not found.
	_, _, body := u1.get("/mail/contacts")
	i := strings.Index(body, `data-contact-id="`)
	id := body[i+len(`data-contact-id="`):]
	id = id[:strings.IndexByte(id, '"')]
	if st, _, _ := u2.post("/mail/contacts", url.Values{"op": {"delete"}, "id": {id}}); st != http.StatusNotFound {
		t.Fatalf("cross-account delete: %d", st)
	}
	// The group book: a user cannot edit it, the domain admin can, the domain's users read it.
	if st, _, _ := u1.post("/mail/contacts", url.Values{"op": {"save"}, "book": {"group"}, "name": {"Helpdesk"}, "emails": {"help@a.example"}}); st != http.StatusForbidden {
		t.Fatalf("user edits the group book: %d", st)
	}
	if st, _, _ := da.post("/mail/contacts", url.Values{"op": {"save"}, "book": {"group"}, "name": {"Helpdesk"}, "emails": {"help@a.example"}}); st != http.StatusSeeOther {
		t.Fatalf("domain admin edits the group book: %d", st)
	}
	if _, _, body := u2.get("/mail/contacts?book=group"); !strings.Contains(body, "Helpdesk") || strings.Contains(body, "Delete this contact?") {
		t.Fatalf("group book for a user:\n%s", body)
	}
	if _, _, js := u2.get("/mail/contacts/complete?q=help"); !strings.Contains(js, "help@a.example") {
		t.Fatalf("completion lacks the group book: %s", js)
	}
	if _, _, body := other.get("/mail/contacts?book=group"); strings.Contains(body, "Helpdesk") {
		t.Fatal("another domain sees the group book")
	}
}
