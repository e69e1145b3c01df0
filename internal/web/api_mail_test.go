package web_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

// The mail JSON API over HTTP with a bearer token of scope "mail" (and a session), against
// the real SQLite store and delivery pipeline.

type apiSummary struct {
	Mailbox       int64    `json:"mailbox"`
	UID           uint32   `json:"uid"`
	Subject       string   `json:"subject"`
	From          string   `json:"from"`
	Flags         []string `json:"flags"`
	HasAttachment bool     `json:"has_attachment"`
}

type apiPage struct {
	Total int          `json:"total"`
	Items []apiSummary `json:"items"`
}

// mailAPIClient is a program holding a "mail" token of addr.
func mailAPIClient(t *testing.T, h *harness, addr string) *client {
	t.Helper()
	c := h.client()
	c.bearer = newToken(t, h.loggedIn(addr), "mail client", web.ScopeMail)
	return c
}

func (c *client) page(t *testing.T, mb store.MailboxID, query string) apiPage {
	t.Helper()
	st, body := c.do("GET", fmt.Sprintf("/api/v1/mail/messages?mailbox=%d&%s", mb, query), nil)
	if st != http.StatusOK {
		t.Fatalf("list %s: %d %s", query, st, body)
	}
	var p apiPage
	decodeJSON(t, body, &p)
	return p
}

func subjects(p apiPage) []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.Subject)
	}
	return out
}

func TestMailAPIListAndRead(t *testing.T) {
	h := mailHarness(t, nil)
	for _, s := range []string{"Re: banana", "apple", "[list] cherry", "Fwd: Apple pie"} {
		h.deliver("u1@a.example", fmt.Sprintf(textMail, s, strings.ReplaceAll(s, " ", "."), "u1"))
	}
	h.deliver("u1@a.example", htmlMail)
	c := mailAPIClient(t, h, "u1@a.example")
	in := h.box("u1@a.example", store.Inbox)

	st, body := c.do("GET", "/api/v1/mail/mailboxes", nil)
	var boxes struct {
		Items []struct {
			ID         int64  `json:"id"`
			Name       string `json:"name"`
			SpecialUse string `json:"special_use"`
			Messages   int    `json:"messages"`
			Unseen     int    `json:"unseen"`
		} `json:"items"`
	}
	decodeJSON(t, body, &boxes)
	i := slices.IndexFunc(boxes.Items, func(b struct {
		ID         int64  `json:"id"`
		Name       string `json:"name"`
		SpecialUse string `json:"special_use"`
		Messages   int    `json:"messages"`
		Unseen     int    `json:"unseen"`
	}) bool {
		return b.Name == "INBOX"
	})
	if st != http.StatusOK || i < 0 || boxes.Items[i].Messages != 5 || boxes.Items[i].Unseen != 5 || len(boxes.Items) != 6 {
		t.Fatalf("mailboxes: %d %s", st, body)
	}

	// Sorted by base subject (RFC 5256): "Re:", "Fwd:" and "[list]" do not count.
	p := c.page(t, in.ID, "sort=subject&order=asc")
	if want := []string{"apple", "Fwd: Apple pie", "Re: banana", "[list] cherry", "HTML with tricks"}; p.Total != 5 || !slices.Equal(subjects(p), want) {
		t.Errorf("by subject: %d %q, want %q", p.Total, subjects(p), want)
	}
	p = c.page(t, in.ID, "sort=subject&order=desc&offset=1&limit=2")
	if want := []string{"[list] cherry", "Re: banana"}; p.Total != 5 || !slices.Equal(subjects(p), want) {
		t.Errorf("by subject desc, second page of 2: %q, want %q", subjects(p), want)
	}
	for _, bad := range []string{"sort=uid", "order=up", "filter=seen", "limit=0", "limit=1001", "offset=-1", "limit=x"} {
		st, body := c.do("GET", fmt.Sprintf("/api/v1/mail/messages?mailbox=%d&%s", in.ID, bad), nil)
		if st != http.StatusBadRequest || errorCode(t, body) != "invalid" {
			t.Errorf("list ?%s: %d %s, want 400 invalid", bad, st, body)
		}
	}

	// The HTML message: sanitised, cid image inlined, attachment listed; reading does not
	// set \Seen.
	htmlUID := h.msgs("u1@a.example", in)[4].UID
	st, body = c.do("GET", fmt.Sprintf("/api/v1/mail/message?mailbox=%d&uid=%d", in.ID, htmlUID), nil)
	var msg struct {
		Subject       string `json:"subject"`
		From          string `json:"from"`
		HTML          string `json:"html"`
		RemoteBlocked int    `json:"remote_blocked"`
		Attachments   []struct {
			Section, Name, Type string
		} `json:"attachments"`
		Flags []string `json:"flags"`
	}
	decodeJSON(t, body, &msg)
	if st != http.StatusOK || msg.Subject != "HTML with tricks" || !strings.Contains(msg.HTML, "<b>friend</b>") ||
		!strings.Contains(msg.HTML, "data:image/png;base64,") || msg.RemoteBlocked == 0 || len(msg.Attachments) != 1 || len(msg.Flags) != 0 {
		t.Fatalf("read: %d %s", st, body)
	}
	for _, bad := range []string{"<script", "onclick", "javascript:", "beacon.test"} {
		if strings.Contains(msg.HTML, bad) {
			t.Errorf("sanitised HTML keeps %q: %s", bad, msg.HTML)
		}
	}
	resp := c.raw("GET", fmt.Sprintf("/api/v1/mail/message/attachment?mailbox=%d&uid=%d&section=%s", in.ID, htmlUID, msg.Attachments[0].Section), nil)
	closeBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("attachment download: %d %v", resp.StatusCode, resp.Header)
	}
	st, body = c.do("GET", fmt.Sprintf("/api/v1/mail/message/raw?mailbox=%d&uid=%d", in.ID, htmlUID), nil)
	if st != http.StatusOK || !strings.Contains(string(body), "Subject: HTML with tricks") {
		t.Errorf("raw: %d %.200s", st, body)
	}
	for _, q := range []string{"uid=999", "uid=0", "uid=x", "uid=1&section=9", "uid=1&section=1.x"} {
		path := "/api/v1/mail/message"
		if strings.Contains(q, "section") {
			path += "/attachment"
		}
		if st, body := c.do("GET", fmt.Sprintf("%s?mailbox=%d&%s", path, in.ID, q), nil); st != http.StatusNotFound || errorCode(t, body) != "not_found" {
			t.Errorf("%s?%s: %d %s, want 404", path, q, st, body)
		}
	}

	// Scope: a token without "mail" is refused; a session works too.
	other := h.client()
	other.bearer = newToken(t, h.loggedIn("u1@a.example"), "profile", web.ScopeSelfRead)
	if st, body := other.do("GET", "/api/v1/mail/mailboxes", nil); st != http.StatusForbidden || errorCode(t, body) != "insufficient_scope" {
		t.Errorf("self:read token: %d %s", st, body)
	}
	if p := h.loggedIn("u1@a.example").page(t, in.ID, "filter=unseen"); p.Total != 5 {
		t.Errorf("session, unseen: %+v", p)
	}
}

func TestMailAPIChanges(t *testing.T) {
	h := mailHarness(t, nil)
	for i := range 4 {
		h.deliver("u1@a.example", fmt.Sprintf(textMail, fmt.Sprint("m", i), fmt.Sprint("c", i), "u1"))
	}
	c := mailAPIClient(t, h, "u1@a.example")
	in := h.box("u1@a.example", store.Inbox)
	arch := h.box("u1@a.example", store.Archive)
	trash := h.box("u1@a.example", store.Trash)
	uids := []store.UID{}
	for _, m := range h.msgs("u1@a.example", in) {
		uids = append(uids, m.UID)
	}

	st, body := c.do("POST", "/api/v1/mail/messages/flags", map[string]any{"mailbox": in.ID, "uids": uids[:2],
		"add": []string{`\Flagged`, `\Seen`, "$Work"}})
	if st != http.StatusOK || !strings.Contains(string(body), `"$Work"`) {
		t.Fatalf("flags: %d %s", st, body)
	}
	if p := c.page(t, in.ID, "filter=flagged&order=asc"); p.Total != 2 || p.Items[0].UID != uint32(uids[0]) {
		t.Errorf("flagged: %+v", p)
	}
	if p := c.page(t, in.ID, "filter=unseen"); p.Total != 2 {
		t.Errorf("unseen: %+v", p)
	}
	st, body = c.do("POST", "/api/v1/mail/messages/flags", map[string]any{"mailbox": in.ID, "uids": uids[:1], "remove": []string{`\Flagged`}})
	if st != http.StatusOK || c.page(t, in.ID, "filter=flagged").Total != 1 {
		t.Errorf("remove flag: %d %s", st, body)
	}

	// Refused changes change nothing: a bad flag, no flags, a UID that does not exist
	// beside one that does, an unknown field.
	before := h.msgs("u1@a.example", in)
	for _, req := range []map[string]any{
		{"mailbox": in.ID, "uids": uids[2:3], "add": []string{"bad flag"}},
		{"mailbox": in.ID, "uids": uids[2:3]},
		{"mailbox": in.ID, "uids": []store.UID{uids[2], 999}, "add": []string{`\Seen`}},
		{"mailbox": in.ID, "uids": []store.UID{}, "add": []string{`\Seen`}},
		{"mailbox": in.ID, "uids": uids[2:3], "add": []string{`\Seen`}, "also": 1},
	} {
		if st, body := c.do("POST", "/api/v1/mail/messages/flags", req); st != http.StatusBadRequest && st != http.StatusNotFound {
			t.Errorf("flags %v: %d %s, want 400 or 404", req, st, body)
		}
	}
	if st, body := c.do("POST", "/api/v1/mail/messages/move", map[string]any{"mailbox": in.ID, "uids": []store.UID{uids[2], 999}, "to": arch.ID}); st != http.StatusNotFound {
		t.Errorf("move with a missing UID: %d %s", st, body)
	}
	if after := h.msgs("u1@a.example", in); !slices.EqualFunc(before, after, func(a, b store.Message) bool {
		return a.UID == b.UID && slices.Equal(a.Flags, b.Flags)
	}) {
		t.Errorf("a refused change changed the mailbox")
	}

	st, body = c.do("POST", "/api/v1/mail/messages/move", map[string]any{"mailbox": in.ID, "uids": uids[2:3], "to": arch.ID})
	var moved struct {
		Mailbox int64 `json:"mailbox"`
		Moved   []struct {
			UID    uint32 `json:"uid"`
			NewUID uint32 `json:"new_uid"`
		} `json:"moved"`
		Deleted []uint32 `json:"deleted"`
	}
	decodeJSON(t, body, &moved)
	if st != http.StatusOK || moved.Mailbox != int64(arch.ID) || len(moved.Moved) != 1 || len(h.msgs("u1@a.example", arch)) != 1 {
		t.Fatalf("move: %d %s", st, body)
	}
	if st, _ := c.do("POST", "/api/v1/mail/messages/move", map[string]any{"mailbox": arch.ID, "uids": []uint32{moved.Moved[0].NewUID}, "to": arch.ID}); st != http.StatusBadRequest {
		t.Errorf("move into the same mailbox: %d", st)
	}
	// Delete: to Trash, then for good from Trash; permanent at once.
	st, body = c.do("POST", "/api/v1/mail/messages/delete", map[string]any{"mailbox": in.ID, "uids": uids[:1]})
	decodeJSON(t, body, &moved)
	if st != http.StatusOK || moved.Mailbox != int64(trash.ID) || len(h.msgs("u1@a.example", trash)) != 1 {
		t.Fatalf("delete to Trash: %d %s", st, body)
	}
	st, body = c.do("POST", "/api/v1/mail/messages/delete", map[string]any{"mailbox": trash.ID, "uids": []uint32{moved.Moved[0].NewUID}})
	if st != http.StatusOK || len(h.msgs("u1@a.example", trash)) != 0 {
		t.Fatalf("delete in Trash: %d %s", st, body)
	}
	st, body = c.do("POST", "/api/v1/mail/messages/delete", map[string]any{"mailbox": in.ID, "uids": uids[1:2], "permanent": true})
	if st != http.StatusOK || !strings.Contains(string(body), fmt.Sprintf(`"deleted":[%d]`, uids[1])) || len(h.msgs("u1@a.example", trash)) != 0 {
		t.Fatalf("permanent delete: %d %s", st, body)
	}
	if got := len(h.msgs("u1@a.example", in)); got != 1 {
		t.Errorf("INBOX holds %d, want 1", got)
	}
	// A session without its CSRF header is refused.
	s := h.loggedIn("u1@a.example")
	s.csrf = ""
	if st, body := s.do("POST", "/api/v1/mail/messages/flags", map[string]any{"mailbox": in.ID, "uids": uids[3:], "add": []string{`\Seen`}}); st != http.StatusForbidden {
		t.Errorf("session without CSRF: %d %s", st, body)
	}
}

// Another account's mailbox and message ids are not found, for reads and changes, and
// nothing of either account changes.
func TestMailAPIIsolation(t *testing.T) {
	h := mailHarness(t, nil)
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "secret", "s1", "u1"))
	h.deliver("u2@a.example", fmt.Sprintf(textMail, "mine", "m2", "u2"))
	in1 := h.box("u1@a.example", store.Inbox)
	arch1 := h.box("u1@a.example", store.Archive)
	uid := h.msgs("u1@a.example", in1)[0].UID
	in2 := h.box("u2@a.example", store.Inbox)
	q := fmt.Sprintf("mailbox=%d&uid=%d", in1.ID, uid)
	sel := map[string]any{"mailbox": in1.ID, "uids": []store.UID{uid}}
	for _, attacker := range []*client{mailAPIClient(t, h, "u2@a.example"), h.loggedIn("u2@a.example"), mailAPIClient(t, h, "u1@b.example")} {
		for _, rq := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/mail/messages?mailbox=" + fmt.Sprint(in1.ID), nil},
			{"GET", "/api/v1/mail/message?" + q, nil},
			{"GET", "/api/v1/mail/message/raw?" + q, nil},
			{"GET", "/api/v1/mail/message/attachment?" + q + "&section=1", nil},
			{"POST", "/api/v1/mail/messages/flags", map[string]any{"mailbox": in1.ID, "uids": []store.UID{uid}, "add": []string{`\Seen`}}},
			{"POST", "/api/v1/mail/messages/move", map[string]any{"mailbox": in1.ID, "uids": []store.UID{uid}, "to": arch1.ID}},
			{"POST", "/api/v1/mail/messages/move", map[string]any{"mailbox": in2.ID, "uids": []store.UID{1}, "to": arch1.ID}},
			{"POST", "/api/v1/mail/messages/delete", sel},
			{"POST", "/api/v1/mail/messages/delete", map[string]any{"mailbox": in1.ID, "uids": []store.UID{uid}, "permanent": true}},
		} {
			st, body := attacker.do(rq.method, rq.path, rq.body)
			if st != http.StatusNotFound || errorCode(t, body) != "not_found" || strings.Contains(string(body), "secret") {
				t.Errorf("%s %s: %d %s, want 404 not_found", rq.method, rq.path, st, body)
			}
		}
	}
	if m := h.msgs("u1@a.example", in1); len(m) != 1 || len(m[0].Flags) != 0 {
		t.Errorf("u1's INBOX changed: %+v", m)
	}
	if m := h.msgs("u2@a.example", in2); len(m) != 1 {
		t.Errorf("u2's INBOX changed: %d messages", len(m))
	}
}

func TestMailAPISend(t *testing.T) {
	h := mailHarness(t, nil)
	c := mailAPIClient(t, h, "u1@a.example")
	att := base64.StdEncoding.EncodeToString([]byte("report body\n"))
	st, body := c.do("POST", "/api/v1/mail/send", map[string]any{"from": "info@a.example", "to": []string{"U2 <u2@a.example>"},
		"bcc": []string{"da@a.example"}, "subject": "Über API", "text": "Hello from the API\n",
		"attachments": []map[string]string{{"name": "report.txt", "type": "text/plain", "data": att}}})
	if st != http.StatusOK || !strings.Contains(string(body), `"saved_in_sent":true`) {
		t.Fatalf("send: %d %s", st, body)
	}
	got := h.env.Messages(t, h.acct["u2@a.example"], "INBOX")
	if len(got) != 1 {
		t.Fatalf("u2 has %d messages", len(got))
	}
	raw := string(got[0].Body)
	for _, want := range []string{"Received: from [127.0.0.1] by mx.test with HTTP", "From: info@a.example", "Hello from the API",
		"filename=report.txt", "Subject: =?utf-8?q?=C3=9Cber_API?="} {
		if !strings.Contains(raw, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "da@a.example") || len(h.env.Messages(t, h.acct["da@a.example"], "INBOX")) != 1 {
		t.Errorf("Bcc: shown or not delivered")
	}
	if len(h.env.Messages(t, h.acct["u1@a.example"], "Sent")) != 1 {
		t.Errorf("no copy in Sent")
	}
	// Refusals: each sends nothing.
	for _, tc := range []struct {
		req    map[string]any
		status int
		code   string
	}{
		{map[string]any{"from": "u2@a.example", "to": []string{"u2@a.example"}, "subject": "x"}, http.StatusForbidden, "forbidden"},
		{map[string]any{"to": []string{"u2@a.example"}, "subject": "x\r\nBcc: victim@b.example"}, http.StatusBadRequest, "invalid"},
		{map[string]any{"to": []string{"u2@a.example, u1@b.example"}}, http.StatusBadRequest, "invalid"},
		{map[string]any{"to": []string{"not an address"}}, http.StatusBadRequest, "invalid"},
		{map[string]any{"subject": "nobody"}, http.StatusBadRequest, "invalid"},
		{map[string]any{"to": []string{"nobody@a.example"}, "subject": "unknown user"}, http.StatusUnprocessableEntity, "refused"},
		{map[string]any{"to": []string{"u2@a.example"}, "attachments": []map[string]string{{"name": "x", "type": "bad type", "data": att}}}, http.StatusBadRequest, "invalid"},
		{map[string]any{"to": []string{"u2@a.example"}, "text": 5}, http.StatusBadRequest, "invalid"},
	} {
		st, body := c.do("POST", "/api/v1/mail/send", tc.req)
		if st != tc.status || errorCode(t, body) != tc.code {
			t.Errorf("send %v: %d %s, want %d %s", tc.req, st, body, tc.status, tc.code)
		}
	}
	if n := len(h.env.Messages(t, h.acct["u2@a.example"], "INBOX")); n != 1 {
		t.Errorf("refused sends delivered: u2 has %d messages", n)
	}
	// A user's token may have the mail scope but not an admin one.
	if st, body := h.loggedIn("u1@a.example").do("POST", "/api/v1/me/tokens", map[string]any{"name": "x", "scopes": []string{"mail", "admin:read"}}); st != http.StatusForbidden {
		t.Errorf("user token with admin:read: %d %s", st, body)
	}
}
