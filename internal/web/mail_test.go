package web_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
	"mailgrid/internal/web"
)

// The webmail against the real SQLite directory and store and the real delivery
// pipeline (deliverytest), through net/http clients that keep cookies like a browser.

// mailHarness is the standard harness served by a Server with the webmail wired to the
// pipeline.
func mailHarness(t *testing.T, tune func(*web.MailOptions, *deliverytest.Env)) *harness {
	t.Helper()
	var opt web.Options // the harness's options, whatever other front-end parts need
	h := newHarness(t, func(o *web.Options) { opt = *o })
	opt.Mail = web.MailOptions{Pipeline: h.env.Pipeline}
	if tune != nil {
		tune(&opt.Mail, h.env)
	}
	srv, err := web.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.base = srv, serve(t, srv)
	return h
}

// deliver puts raw into rcpt's mailbox through the pipeline, as SMTP would.
func (h *harness) deliver(rcpt, raw string) {
	h.t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	env := &delivery.Envelope{From: mail.MustParse("sender@remote.example"),
		Recipients: []delivery.Recipient{{Addr: mail.MustParse(rcpt)}}, Received: time.Now()}
	res, err := h.env.Pipeline.Deliver(context.Background(), env, delivery.Bytes(raw))
	if err != nil || res[0].Err != nil {
		h.t.Fatalf("deliver to %s: %v %v", rcpt, err, res[0].Err)
	}
}

// box returns the mailbox of addr with special use (store.Inbox for INBOX) or name.
func (h *harness) box(addr, which string) store.Mailbox {
	h.t.Helper()
	mbs, err := h.env.Store.Mailboxes(context.Background(), deliverytest.Ref(h.acct[addr]))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mb := range mbs {
		if which == store.Inbox && mb.Name == "INBOX" || mb.SpecialUse == which && which != "" || mb.Name == which {
			return mb
		}
	}
	h.t.Fatalf("%s has no mailbox %s", addr, which)
	return store.Mailbox{}
}

// uids lists a mailbox's messages.
func (h *harness) msgs(addr string, mb store.Mailbox) []store.Message {
	h.t.Helper()
	var out []store.Message
	if err := h.env.Store.Messages(context.Background(), deliverytest.Ref(h.acct[addr]), mb.ID, store.Query{},
		func(m store.Message) error { out = append(out, m); return nil }); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// get fetches a page and returns status, headers and body.
func (c *client) get(path string) (int, http.Header, string) {
	c.h.t.Helper()
	resp := c.raw("GET", path, nil)
	defer closeBody(c.h.t, resp)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// post sends a form with the session's CSRF token and returns status, Location, body.
func (c *client) post(path string, v url.Values) (int, string, string) {
	c.h.t.Helper()
	if v.Get("csrf_token") == "" && c.csrf != "" {
		v.Set("csrf_token", c.csrf)
	}
	resp := c.form(path, v)
	defer closeBody(c.h.t, resp)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// multipartPost sends the compose form (multipart) with files name -> content.
func (c *client) multipartPost(path string, v url.Values, files map[string]string) (int, string, string) {
	c.h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if _, ok := v["csrf_token"]; !ok {
		v.Set("csrf_token", c.csrf)
	}
	for k, vs := range v {
		for _, x := range vs {
			if err := mw.WriteField(k, x); err != nil {
				c.h.t.Fatal(err)
			}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fw, err := mw.CreateFormFile("attachment", n)
		if err != nil {
			c.h.t.Fatal(err)
		}
		if _, err := io.WriteString(fw, files[n]); err != nil {
			c.h.t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		c.h.t.Fatal(err)
	}
	req, err := http.NewRequest("POST", c.h.base+path, &buf)
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
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

const textMail = `From: Alice <alice@remote.example>
To: u1@a.example
Subject: %s
Date: Mon, 2 Mar 2026 10:00:00 +0000
Message-ID: <%s@remote.example>

Hello %s,
this is the text.
`

const htmlMail = `From: Mallory <mallory@remote.example>
To: u1@a.example
Subject: HTML with tricks
Message-ID: <html1@remote.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p onclick="alert(1)">Hello <b>friend</b></p><script>alert(2)</script>
<img src="http://beacon.test/pixel.gif"><img src="cid:logo@x">
<a href="javascript:alert(3)">js</a><a href="https://example.test/">ok</a>
<div style="background:url(http://beacon.test/bg)">styled</div>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--mix
Content-Type: text/html; name="evil.html"
Content-Disposition: attachment; filename*=UTF-8''%E2%80%AEevil%22%0D%0A.html
Content-Transfer-Encoding: base64

PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==
--mix--
`

func TestMailHome(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	st, hdr, _ := c.get("/")
	if st != http.StatusSeeOther || hdr.Get("Location") != "/mail/" {
		t.Fatalf("/ for a user: %d %s", st, hdr.Get("Location"))
	}
	in := h.box("u1@a.example", store.Inbox)
	st, hdr, _ = c.get("/mail/")
	if st != http.StatusSeeOther || hdr.Get("Location") != fmt.Sprintf("/mail/f/%d", in.ID) {
		t.Fatalf("/mail/: %d %s", st, hdr.Get("Location"))
	}
	admin := h.loggedIn("da@a.example")
	if st, hdr, _ := admin.get("/"); st != http.StatusSeeOther || hdr.Get("Location") != "/console/" {
		t.Fatalf("/ for an admin: %d %s", st, hdr.Get("Location"))
	}
	anon := h.client()
	if st, hdr, _ := anon.get("/mail/f/1"); st != http.StatusSeeOther || !strings.HasPrefix(hdr.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous: %d %s", st, hdr.Get("Location"))
	}
	// The folder list, with unread counts and the quota.
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "one", "m1", "u1"))
	st, _, body := c.get(fmt.Sprintf("/mail/f/%d", in.ID))
	for _, want := range []string{">INBOX", `class="unread"`, ">Drafts<", ">Trash<", "used</span>", "one"} {
		if !strings.Contains(body, want) {
			t.Errorf("list page lacks %q (status %d)", want, st)
		}
	}
}

func TestMailListSortPageFilter(t *testing.T) {
	h := mailHarness(t, func(o *web.MailOptions, _ *deliverytest.Env) { o.PageSize = 2 })
	c := h.loggedIn("u1@a.example")
	for i, s := range []string{"bravo", "alpha", "delta", "charlie"} {
		h.deliver("u1@a.example", fmt.Sprintf(textMail, s, fmt.Sprint("id", i), "u1"))
	}
	in := h.box("u1@a.example", store.Inbox)
	order := func(path string) []string {
		t.Helper()
		st, _, body := c.get(path)
		if st != http.StatusOK {
			t.Fatalf("%s: %d", path, st)
		}
		re := regexp.MustCompile(`<td class="subject"><a href="[^"]*">([a-z]+)</a>`)
		var out []string
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	base := fmt.Sprintf("/mail/f/%d", in.ID)
	if got := order(base + "?sort=subject&order=asc"); !slices.Equal(got, []string{"alpha", "bravo"}) {
		t.Errorf("subject asc page 1: %v", got)
	}
	if got := order(base + "?sort=subject&order=asc&page=2"); !slices.Equal(got, []string{"charlie", "delta"}) {
		t.Errorf("subject asc page 2: %v", got)
	}
	if got := order(base + "?sort=subject"); !slices.Equal(got, []string{"delta", "charlie"}) {
		t.Errorf("subject desc: %v", got)
	}
	if got := order(base + "?sort=date"); !slices.Equal(got, []string{"charlie", "delta"}) {
		t.Errorf("date desc (newest first): %v", got)
	}
	// Read one, flag one: the filters follow.
	ms := h.msgs("u1@a.example", in)
	if st, _, _ := c.get(fmt.Sprintf("/mail/m/%d/%d", in.ID, ms[0].UID)); st != http.StatusOK {
		t.Fatal("read")
	}
	if st, _, body := c.post("/mail/act", url.Values{"op": {"flag"}, "mb": {itoa(int64(in.ID))}, "uid": {itoa(int64(ms[2].UID))}, "back": {base}}); st != http.StatusSeeOther {
		t.Fatalf("flag: %d %s", st, body)
	}
	if got := order(base + "?sort=subject&order=asc&filter=unread&page=2"); !slices.Equal(got, []string{"delta"}) {
		t.Errorf("unread page 2: %v", got)
	}
	if got := order(base + "?filter=flagged"); !slices.Equal(got, []string{"delta"}) {
		t.Errorf("flagged: %v", got)
	}
}

func TestMailReadHTMLSafely(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	h.deliver("u1@a.example", htmlMail)
	in := h.box("u1@a.example", store.Inbox)
	m := h.msgs("u1@a.example", in)[0]
	base := fmt.Sprintf("/mail/m/%d/%d", in.ID, m.UID)
	st, hdr, body := c.get(base)
	if st != http.StatusOK {
		t.Fatalf("read: %d %s", st, body)
	}
	if !strings.Contains(body, `<iframe class="body" id="body-frame" sandbox="allow-popups allow-popups-to-escape-sandbox" src="`+base+`/frame"`) {
		t.Errorf("no sandboxed frame: %s", body)
	}
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-src 'self'") || strings.Contains(hdr.Get("Content-Security-Policy"), "unsafe") {
		t.Errorf("read page CSP %q", hdr.Get("Content-Security-Policy"))
	}
	if !strings.Contains(body, "1 remote image blocked") || !strings.Contains(body, "evil") {
		t.Errorf("read page lacks the blocked-image notice or the attachment")
	}
	if got := h.msgs("u1@a.example", in)[0].Flags; !slices.Contains(got, store.FlagSeen) {
		t.Errorf("reading did not set \\Seen: %v", got)
	}
	st, hdr, frame := c.get(base + "/frame")
	if st != http.StatusOK {
		t.Fatalf("frame: %d", st)
	}
	fcsp := hdr.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "img-src data:;", "sandbox allow-popups", "frame-ancestors 'self'"} {
		if !strings.Contains(fcsp, want) {
			t.Errorf("frame CSP %q lacks %q", fcsp, want)
		}
	}
	if hdr.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("frame X-Frame-Options %q", hdr.Get("X-Frame-Options"))
	}
	for _, bad := range []string{"<script", "onclick", "javascript:", "beacon.test", "url("} {
		if strings.Contains(frame, bad) {
			t.Errorf("frame contains %q: %s", bad, frame)
		}
	}
	for _, want := range []string{"Hello <b>friend</b>", `src="data:image/png;base64,iVBORw0KGgo="`, `rel="noopener noreferrer"`} {
		if !strings.Contains(frame, want) {
			t.Errorf("frame lacks %q: %s", want, frame)
		}
	}
	_, hdr, frame = c.get(base + "/frame?images=1")
	if !strings.Contains(hdr.Get("Content-Security-Policy"), "img-src data: http: https:") || !strings.Contains(frame, `src="http://beacon.test/pixel.gif"`) {
		t.Errorf("images allowed: CSP %q frame %s", hdr.Get("Content-Security-Policy"), frame)
	}
	// The hostile attachment downloads as an attachment, never as a page.
	st, hdr, part := c.get(base + "/part/2")
	if st != http.StatusOK || part != "<script>alert(1)</script>" {
		t.Fatalf("part: %d %q", st, part)
	}
	cd := hdr.Get("Content-Disposition")
	if cd != `attachment; filename="evil_.html"; filename*=UTF-8''evil_.html` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if strings.ContainsAny(cd, "\r\n") || strings.Contains(cd, "\u202e") {
		t.Errorf("Content-Disposition carries control characters: %q", cd)
	}
	if hdr.Get("Content-Type") != "application/octet-stream" || hdr.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(hdr.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("part headers: %v", hdr)
	}
	st, hdr, raw := c.get(base + "/raw")
	if st != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") || !strings.Contains(raw, "Subject: HTML with tricks") ||
		!strings.HasPrefix(hdr.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("raw: %d %v", st, hdr)
	}
	st, hdr, _ = c.get(base + "/eml")
	if st != http.StatusOK || hdr.Get("Content-Type") != "message/rfc822" || !strings.Contains(hdr.Get("Content-Disposition"), "HTML with tricks.eml") {
		t.Errorf("eml: %d %v", st, hdr)
	}
	if st, _, _ := c.get(base + "/part/9"); st != http.StatusNotFound {
		t.Errorf("missing part: %d", st)
	}
	// Plain text message: shown escaped.
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "<b>tag</b>", "t1", "<script>x</script>"))
	m2 := h.msgs("u1@a.example", in)[1]
	_, _, body = c.get(fmt.Sprintf("/mail/m/%d/%d", in.ID, m2.UID))
	if strings.Contains(body, "<script>x") || !strings.Contains(body, "Hello &lt;script&gt;x&lt;/script&gt;") {
		t.Errorf("text body not escaped: %s", body)
	}
}

func TestMailIsolation(t *testing.T) {
	h := mailHarness(t, nil)
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "secret", "s1", "u1"))
	in := h.box("u1@a.example", store.Inbox)
	m := h.msgs("u1@a.example", in)[0]
	for _, who := range []string{"u2@a.example", "u1@b.example"} {
		c := h.loggedIn(who)
		for _, p := range []string{"/mail/f/%d", "/mail/m/%d/%d", "/mail/m/%d/%d/raw", "/mail/m/%d/%d/part/1", "/mail/m/%d/%d/frame"} {
			path := fmt.Sprintf(p, in.ID, m.UID)
			if strings.Count(p, "%d") == 1 {
				path = fmt.Sprintf(p, in.ID)
			}
			if st, _, body := c.get(path); st != http.StatusNotFound || strings.Contains(body, "secret") {
				t.Errorf("%s reads %s: %d", who, path, st)
			}
		}
		st, _, _ := c.post("/mail/act", url.Values{"op": {"delete"}, "mb": {itoa(int64(in.ID))}, "uid": {itoa(int64(m.UID))}})
		if st != http.StatusNotFound {
			t.Errorf("%s deletes another's message: %d", who, st)
		}
		if st, _, _ := c.get("/mail/compose?reply=" + fmt.Sprintf("%d/%d", in.ID, m.UID)); st != http.StatusNotFound {
			t.Errorf("%s replies to another's message: %d", who, st)
		}
	}
	if len(h.msgs("u1@a.example", in)) != 1 {
		t.Fatal("the message went away")
	}
	// Webmail switched off for the account: its session no longer reads mail.
	c := h.loggedIn("da@a.example")
	off := []string{directory.ServiceWebmail}
	if _, err := h.env.Dir.UpdateAccount(context.Background(), mail.MustParse("da@a.example"), directory.AccountUpdate{DisabledServices: &off}); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := c.get("/mail/"); st != http.StatusForbidden {
		t.Errorf("admin without webmail: %d", st)
	}
}

func TestMailActions(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	for i := range 3 {
		h.deliver("u1@a.example", fmt.Sprintf(textMail, fmt.Sprint("msg", i), fmt.Sprint("a", i), "u1"))
	}
	in, trash, arch := h.box("u1@a.example", store.Inbox), h.box("u1@a.example", store.Trash), h.box("u1@a.example", store.Archive)
	ms := h.msgs("u1@a.example", in)
	mb := itoa(int64(in.ID))
	back := "/mail/f/" + mb
	// Without the CSRF token: refused, nothing changes.
	if st, _, _ := c.post("/mail/act", url.Values{"csrf_token": {"wrong"}, "op": {"trash"}, "mb": {mb}, "uid": {itoa(int64(ms[0].UID))}}); st != http.StatusForbidden {
		t.Errorf("wrong CSRF: %d", st)
	}
	// Cross-site: refused by the origin check.
	c.header.Set("Sec-Fetch-Site", "cross-site")
	if st, _, _ := c.post("/mail/act", url.Values{"op": {"trash"}, "mb": {mb}, "uid": {itoa(int64(ms[0].UID))}}); st != http.StatusForbidden {
		t.Errorf("cross-site post: %d", st)
	}
	c.header.Del("Sec-Fetch-Site")
	if n := len(h.msgs("u1@a.example", in)); n != 3 {
		t.Fatalf("refused posts changed the folder: %d", n)
	}
	st, loc, _ := c.post("/mail/act", url.Values{"op": {"move"}, "dest": {itoa(int64(arch.ID))}, "mb": {mb}, "uid": {itoa(int64(ms[0].UID)), itoa(int64(ms[1].UID))}, "back": {back}})
	if st != http.StatusSeeOther || loc != back+"?done=moved" {
		t.Fatalf("move: %d %s", st, loc)
	}
	if len(h.msgs("u1@a.example", arch)) != 2 || len(h.msgs("u1@a.example", in)) != 1 {
		t.Fatal("move did not move")
	}
	st, _, _ = c.post("/mail/act", url.Values{"op": {"trash"}, "mb": {mb}, "uid": {itoa(int64(ms[2].UID))}, "back": {back}})
	if st != http.StatusSeeOther || len(h.msgs("u1@a.example", trash)) != 1 || len(h.msgs("u1@a.example", in)) != 0 {
		t.Fatal("trash did not move to Trash")
	}
	tm := h.msgs("u1@a.example", trash)[0]
	st, _, _ = c.post("/mail/act", url.Values{"op": {"delete"}, "mb": {itoa(int64(trash.ID))}, "uid": {itoa(int64(tm.UID))}})
	if st != http.StatusSeeOther || len(h.msgs("u1@a.example", trash)) != 0 {
		t.Fatal("permanent delete")
	}
	am := h.msgs("u1@a.example", arch)
	c.post("/mail/act", url.Values{"op": {"unread"}, "mb": {itoa(int64(arch.ID))}, "uid": {itoa(int64(am[0].UID))}})
	c.post("/mail/act", url.Values{"op": {"flag"}, "mb": {itoa(int64(arch.ID))}, "uid": {itoa(int64(am[0].UID))}})
	if f := h.msgs("u1@a.example", arch)[0].Flags; !slices.Contains(f, store.FlagFlagged) || slices.Contains(f, store.FlagSeen) {
		t.Errorf("flags %v", f)
	}
	// Spam and not spam: moves to Junk and back to INBOX (the trainer learns from moves).
	junk := h.box("u1@a.example", store.Junk)
	if st, _, _ := c.post("/mail/act", url.Values{"op": {"spam"}, "mb": {itoa(int64(arch.ID))}, "uid": {itoa(int64(am[1].UID))}}); st != http.StatusSeeOther || len(h.msgs("u1@a.example", junk)) != 1 {
		t.Fatalf("spam: %d", st)
	}
	jm := h.msgs("u1@a.example", junk)[0]
	if st, _, _ := c.post("/mail/act", url.Values{"op": {"notspam"}, "mb": {itoa(int64(junk.ID))}, "uid": {itoa(int64(jm.UID))}}); st != http.StatusSeeOther || len(h.msgs("u1@a.example", in)) != 1 {
		t.Fatalf("not spam: %d", st)
	}
	// Folders.
	st, _, body := c.post("/mail/folders", url.Values{"op": {"create"}, "name": {"Projects"}})
	if st != http.StatusSeeOther {
		t.Fatalf("create: %d %s", st, body)
	}
	st, _, _ = c.post("/mail/folders", url.Values{"op": {"create"}, "name": {"2026"}, "parent": {"Projects"}})
	if st != http.StatusSeeOther {
		t.Fatal("create child")
	}
	if st, _, _ := c.post("/mail/folders", url.Values{"op": {"create"}, "name": {"bad*name"}}); st != http.StatusUnprocessableEntity {
		t.Errorf("bad name: %d", st)
	}
	if st, _, _ := c.post("/mail/folders", url.Values{"op": {"create"}, "name": {"Projects"}}); st != http.StatusConflict {
		t.Errorf("duplicate: %d", st)
	}
	proj := h.box("u1@a.example", "Projects")
	child := h.box("u1@a.example", "Projects/2026")
	for _, prot := range []store.Mailbox{in, trash, h.box("u1@a.example", store.Sent)} {
		if st, _, _ := c.post("/mail/folders", url.Values{"op": {"rename"}, "folder": {itoa(int64(prot.ID))}, "name": {"X"}}); st != http.StatusForbidden {
			t.Errorf("rename %s: %d", prot.Name, st)
		}
		if st, _, _ := c.post("/mail/folders", url.Values{"op": {"delete"}, "folder": {itoa(int64(prot.ID))}}); st != http.StatusForbidden {
			t.Errorf("delete %s: %d", prot.Name, st)
		}
	}
	if st, _, _ := c.post("/mail/folders", url.Values{"op": {"delete"}, "folder": {itoa(int64(proj.ID))}}); st != http.StatusConflict {
		t.Errorf("delete with children: %d", st)
	}
	// Move a message into the child, then delete it: its message goes to Trash.
	c.post("/mail/act", url.Values{"op": {"move"}, "dest": {itoa(int64(child.ID))}, "mb": {itoa(int64(arch.ID))}, "uid": {itoa(int64(am[0].UID))}})
	if st, _, _ := c.post("/mail/folders", url.Values{"op": {"rename"}, "folder": {itoa(int64(child.ID))}, "name": {"Projects/Old"}}); st != http.StatusSeeOther {
		t.Fatalf("rename: %d", st)
	}
	old := h.box("u1@a.example", "Projects/Old")
	if st, _, _ := c.post("/mail/folders", url.Values{"op": {"delete"}, "folder": {itoa(int64(old.ID))}}); st != http.StatusSeeOther {
		t.Fatalf("delete: %d", st)
	}
	if len(h.msgs("u1@a.example", trash)) != 1 {
		t.Error("deleted folder's message not in Trash")
	}
}

func TestMailSend(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	st, _, page := c.get("/mail/compose")
	if st != http.StatusOK || !strings.Contains(page, `<option value="info@a.example">`) {
		t.Fatalf("compose: %d, identities missing", st)
	}
	send := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"U2 <u2@a.example>"}, "cc": {""}, "bcc": {"da@a.example"},
		"subject": {"Grüße über webmail"}, "body": {"Line one\nLine two with ünïcödé\n"}}
	st, loc, body := c.multipartPost("/mail/compose", send, map[string]string{"notes.txt": "attached text\n"})
	if st != http.StatusSeeOther || !strings.HasSuffix(loc, "done=sent") {
		t.Fatalf("send: %d %s %s", st, loc, body)
	}
	got := h.env.Messages(t, h.acct["u2@a.example"], "INBOX")
	if len(got) != 1 {
		t.Fatalf("u2 has %d messages", len(got))
	}
	raw := string(got[0].Body)
	for _, want := range []string{"Received: from [127.0.0.1] by mx.test with HTTP", "From: u1@a.example", "To: \"U2\" <u2@a.example>",
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_=C3=BCber_webmail?=", "Content-Disposition: attachment; filename=notes.txt", "Message-ID: <"} {
		if !strings.Contains(raw, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "Bcc") || strings.Contains(raw, "da@a.example") {
		t.Errorf("Bcc shows in the delivered message")
	}
	if len(h.env.Messages(t, h.acct["da@a.example"], "INBOX")) != 1 {
		t.Error("Bcc recipient got nothing")
	}
	sent := h.env.Messages(t, h.acct["u1@a.example"], "Sent")
	if len(sent) != 1 || strings.Contains(string(sent[0].Body), "Received:") {
		t.Fatalf("Sent copy: %d", len(sent))
	}
	// u2 reads it in the webmail and replies; the original is flagged \Answered.
	c2 := h.loggedIn("u2@a.example")
	in2 := h.box("u2@a.example", store.Inbox)
	m := h.msgs("u2@a.example", in2)[0]
	_, _, rd := c2.get(fmt.Sprintf("/mail/m/%d/%d", in2.ID, m.UID))
	if !strings.Contains(rd, "Line two with ünïcödé") || !strings.Contains(rd, "notes.txt") {
		t.Errorf("read page: %s", rd)
	}
	_, _, form := c2.get(fmt.Sprintf("/mail/compose?reply=%d/%d", in2.ID, m.UID))
	if !strings.Contains(form, `value="u1@a.example"`) || !strings.Contains(form, "Re: Grüße über webmail") || !strings.Contains(form, "&gt; Line one") {
		t.Errorf("reply form: %s", form)
	}
	irt := regexp.MustCompile(`name="in_reply_to" value="([^"]*)"`).FindStringSubmatch(form)
	if irt == nil || !strings.HasPrefix(irt[1], "&lt;") {
		t.Fatalf("no In-Reply-To in the reply form")
	}
	reply := url.Values{"op": {"send"}, "from": {"u2@a.example"}, "to": {"u1@a.example"}, "subject": {"Re: hi"}, "body": {"thanks"},
		"in_reply_to": {"<" + strings.TrimSuffix(strings.TrimPrefix(irt[1], "&lt;"), "&gt;") + ">"}, "answer": {fmt.Sprintf("%d/%d", in2.ID, m.UID)}}
	if st, _, body := c2.multipartPost("/mail/compose", reply, nil); st != http.StatusSeeOther {
		t.Fatalf("reply: %d %s", st, body)
	}
	if f := h.msgs("u2@a.example", in2)[0].Flags; !slices.Contains(f, store.FlagAnswered) {
		t.Errorf("original not answered: %v", f)
	}
	back := h.env.Messages(t, h.acct["u1@a.example"], "INBOX")
	if len(back) != 1 || !strings.Contains(string(back[0].Body), "In-Reply-To: <") {
		t.Fatalf("reply not delivered with In-Reply-To")
	}
	// As an alias it owns: allowed; as someone else: refused, nothing sent.
	alias := url.Values{"op": {"send"}, "from": {"info@a.example"}, "to": {"u2@a.example"}, "subject": {"from info"}, "body": {"x"}}
	if st, _, body := c.multipartPost("/mail/compose", alias, nil); st != http.StatusSeeOther {
		t.Fatalf("send as alias: %d %s", st, body)
	}
	before := h.env.Total(t, h.acct["u2@a.example"])
	for name, v := range map[string]url.Values{
		"foreign From":    {"op": {"send"}, "from": {"u2@a.example"}, "to": {"u2@a.example"}, "subject": {"x"}},
		"CRLF in subject": {"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"hi\r\nBcc: victim@b.example"}},
		"LF in To":        {"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example\nBcc: victim@b.example"}, "subject": {"x"}},
		"CR in Cc":        {"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "cc": {"a@b.example\rX: y"}, "subject": {"x"}},
		"CRLF in From":    {"op": {"send"}, "from": {"u1@a.example\r\nBcc: v@b.example"}, "to": {"u2@a.example"}, "subject": {"x"}},
		"bad address":     {"op": {"send"}, "from": {"u1@a.example"}, "to": {"not an address"}, "subject": {"x"}},
		"no recipient":    {"op": {"send"}, "from": {"u1@a.example"}, "subject": {"x"}},
		"unknown local":   {"op": {"send"}, "from": {"u1@a.example"}, "to": {"nobody@a.example"}, "subject": {"x"}},
		"wrong CSRF":      {"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"x"}, "csrf_token": {"forged"}},
	} {
		st, _, body := c.multipartPost("/mail/compose", v, nil)
		if st < 400 {
			t.Errorf("%s: accepted (%d)", name, st)
		}
		if st != http.StatusForbidden && !strings.Contains(body, `role="alert"`) {
			t.Errorf("%s: no error shown (%d)", name, st)
		}
	}
	if after := h.env.Total(t, h.acct["u2@a.example"]); after != before {
		t.Errorf("refused sends delivered %d messages", after-before)
	}
	// Remote recipients go to the queue.
	remote := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"someone@remote.example"}, "subject": {"out"}, "body": {"x"}}
	if st, _, body := c.multipartPost("/mail/compose", remote, nil); st != http.StatusSeeOther {
		t.Fatalf("remote send: %d %s", st, body)
	}
	if q := h.env.QueueItems(t); len(q) != 1 {
		t.Errorf("queue has %d items", len(q))
	}
}

func TestMailSizeLimitAndDrafts(t *testing.T) {
	h := mailHarness(t, nil)
	if err := h.env.Dir.UpdateDomain(context.Background(), directory.Domain{Name: "a.example", Enabled: true, MaxMessageBytes: 2000}); err != nil {
		t.Fatal(err)
	}
	c := h.loggedIn("u1@a.example")
	big := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"big"}, "body": {"x"}}
	st, _, _ := c.multipartPost("/mail/compose", big, map[string]string{"big.bin": strings.Repeat("A", 5000)})
	if st != http.StatusRequestEntityTooLarge {
		t.Errorf("over the domain's size: %d", st)
	}
	if n := h.env.Total(t, h.acct["u2@a.example"]); n != 0 {
		t.Errorf("delivered %d", n)
	}
	// Drafts: save, reopen, save again (replaces), send (removes).
	d := url.Values{"op": {"draft"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "bcc": {"da@a.example"}, "subject": {"wip"}, "body": {"first"}}
	st, loc, body := c.multipartPost("/mail/compose", d, nil)
	if st != http.StatusSeeOther || !strings.Contains(loc, "/mail/compose?draft=") {
		t.Fatalf("draft: %d %s %s", st, loc, body)
	}
	drafts := h.box("u1@a.example", store.Drafts)
	dm := h.msgs("u1@a.example", drafts)
	if len(dm) != 1 || !slices.Contains(dm[0].Flags, store.FlagDraft) {
		t.Fatalf("drafts: %v", dm)
	}
	_, _, form := c.get(loc)
	if !strings.Contains(form, `value="wip"`) || !strings.Contains(form, ">first") || !strings.Contains(form, "da@a.example") || !strings.Contains(form, "Draft saved.") {
		t.Errorf("reopened draft: %s", form)
	}
	ref := strings.TrimPrefix(strings.Split(loc, "&")[0], "/mail/compose?draft=")
	d.Set("draft", ref)
	d.Set("body", "second")
	c.multipartPost("/mail/compose", d, nil)
	if dm := h.msgs("u1@a.example", drafts); len(dm) != 1 {
		t.Fatalf("second save left %d drafts", len(dm))
	}
	ref = fmt.Sprintf("%d/%d", drafts.ID, h.msgs("u1@a.example", drafts)[0].UID)
	d.Set("draft", ref)
	d.Set("op", "send")
	if st, _, body := c.multipartPost("/mail/compose", d, nil); st != http.StatusSeeOther {
		t.Fatalf("send draft: %d %s", st, body)
	}
	if dm := h.msgs("u1@a.example", drafts); len(dm) != 0 {
		t.Errorf("sent draft still in Drafts")
	}
}

func TestMailForward(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "fwd me", "f1", "u1"))
	in := h.box("u1@a.example", store.Inbox)
	m := h.msgs("u1@a.example", in)[0]
	ref := fmt.Sprintf("%d/%d", in.ID, m.UID)
	_, _, form := c.get("/mail/compose?forward=" + ref)
	if !strings.Contains(form, "Fwd: fwd me") || !strings.Contains(form, "Forwarded message") || !strings.Contains(form, "this is the text.") {
		t.Errorf("inline forward form: %s", form)
	}
	_, _, form = c.get("/mail/compose?forward=" + ref + "&attach=1")
	if !strings.Contains(form, `name="forward" value="`+ref+`"`) {
		t.Fatalf("attach forward form: %s", form)
	}
	v := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"Fwd: fwd me"}, "body": {"see attached"}, "forward": {ref}}
	if st, _, body := c.multipartPost("/mail/compose", v, nil); st != http.StatusSeeOther {
		t.Fatalf("forward: %d %s", st, body)
	}
	got := h.env.Messages(t, h.acct["u2@a.example"], "INBOX")
	if len(got) != 1 || !strings.Contains(string(got[0].Body), "Content-Type: message/rfc822") || !strings.Contains(string(got[0].Body), "Message-ID: <f1@remote.example>") {
		t.Fatalf("forwarded as attachment: %d", len(got))
	}
}

func TestMailSearch(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "quarterly report", "q1", "u1"))
	h.deliver("u1@a.example", strings.Replace(fmt.Sprintf(textMail, "lunch", "q2", "u1"), "this is the text", "the zebra budget", 1))
	h.deliver("u1@a.example", htmlMail)
	in, arch := h.box("u1@a.example", store.Inbox), h.box("u1@a.example", store.Archive)
	ms := h.msgs("u1@a.example", in)
	c.post("/mail/act", url.Values{"op": {"move"}, "dest": {itoa(int64(arch.ID))}, "mb": {itoa(int64(in.ID))}, "uid": {itoa(int64(ms[0].UID))}})
	count := func(q string) int {
		t.Helper()
		st, _, body := c.get("/mail/search?" + q)
		if st != http.StatusOK {
			t.Fatalf("search %s: %d", q, st)
		}
		return strings.Count(body, `<tr class="row`)
	}
	for q, want := range map[string]int{
		"q=QUARTERLY":   1, // case-insensitive, across folders
		"q=alice":       2,
		"from=mallory":  1,
		"subject=lunch": 1,
		"body=zebra":    1,
		"body=zebra&folder=" + itoa(int64(arch.ID)): 0,
		"attach=1":                           1,
		"since=2000-01-01&before=2000-01-02": 0,
		"q=nothing-matches":                  0,
	} {
		if got := count(q); got != want {
			t.Errorf("search %s: %d results, want %d", q, got, want)
		}
	}
	if st, _, _ := c.get("/mail/search?q=" + url.QueryEscape("a\r\nb")); st != http.StatusUnprocessableEntity {
		t.Errorf("control characters in a search term: %d", st)
	}
}

func TestMailEvents(t *testing.T) {
	b := bus.New()
	h := mailHarness(t, func(o *web.MailOptions, _ *deliverytest.Env) { o.Bus = b })
	c := h.loggedIn("u1@a.example")
	in := h.box("u1@a.example", store.Inbox)
	resp := c.raw("GET", "/mail/events", nil)
	defer func() { _ = resp.Body.Close() }() // a stream: nothing to drain
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no event line")
		}
		return ""
	}
	if l := next(); l != "retry: 5000" {
		t.Fatalf("first line %q", l)
	}
	next()
	// Another account's change is not seen; the account's own is.
	b.Publish(store.Change{Kind: store.MessageAdded, Account: deliverytest.Ref(h.acct["u2@a.example"]), Mailbox: 99})
	b.Publish(store.Change{Kind: store.MessageAdded, Account: deliverytest.Ref(h.acct["u1@a.example"]), Mailbox: in.ID})
	if l := next(); l != "event: change" {
		t.Fatalf("event line %q", l)
	}
	if l := next(); l != fmt.Sprintf("data: message-added %d", in.ID) {
		t.Fatalf("data line %q", l)
	}
	// Shutdown ends open streams at once (it waits for requests in flight).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open stream: %v", err)
	}
	for range lines { // the stream ends
	}
	// Without a bus: 204, so EventSource stops asking.
	h2 := mailHarness(t, nil)
	if st, _, _ := h2.loggedIn("u1@a.example").get("/mail/events"); st != http.StatusNoContent {
		t.Errorf("no bus: %d", st)
	}
}

// TestMailEventsEndWithAccount: the event stream of an account that is deleted or
// disabled ends at once (its session cookie is refused from then on).
func TestMailEventsEndWithAccount(t *testing.T) {
	for _, kind := range []store.ChangeKind{store.AccountDeleted, store.AccountDisabled} {
		b := bus.New()
		h := mailHarness(t, func(o *web.MailOptions, _ *deliverytest.Env) { o.Bus = b })
		c := h.loggedIn("u1@a.example")
		resp := c.raw("GET", "/mail/events", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("events: %d", resp.StatusCode)
		}
		ended := make(chan error, 1)
		go func() {
			_, err := io.Copy(io.Discard, resp.Body)
			ended <- errors.Join(err, resp.Body.Close())
		}()
		b.Publish(store.Change{Kind: kind, Account: deliverytest.Ref(h.acct["u2@a.example"])})
		select {
		case err := <-ended:
			t.Fatalf("%v: the stream ended on another account's change: %v", kind, err)
		case <-time.After(50 * time.Millisecond): // not a timing assertion: the stream must stay
		}
		b.Publish(store.Change{Kind: kind, Account: deliverytest.Ref(h.acct["u1@a.example"])})
		select {
		case err := <-ended:
			if err != nil {
				t.Errorf("%v: stream: %v", kind, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: the stream did not end", kind)
		}
	}
}

func TestMailConversations(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	h.deliver("u1@a.example", "From: a@remote.example\nSubject: plan\nMessage-ID: <p1@x>\n\nfirst\n")
	h.deliver("u1@a.example", "From: b@remote.example\nSubject: other\nMessage-ID: <o1@x>\n\nalone\n")
	h.deliver("u1@a.example", "From: b@remote.example\nSubject: Re: plan\nMessage-ID: <p2@x>\nIn-Reply-To: <p1@x>\n\nsecond\n")
	h.deliver("u1@a.example", "From: a@remote.example\nSubject: Re: plan\nMessage-ID: <p3@x>\nReferences: <p1@x> <p2@x>\n\nthird\n")
	in := h.box("u1@a.example", store.Inbox)
	st, _, body := c.get(fmt.Sprintf("/mail/f/%d?thread=1", in.ID))
	if st != http.StatusOK || !strings.Contains(body, "2 conversations") || strings.Count(body, `<tr class="row`) != 2 {
		t.Fatalf("conversations: %d %s", st, body)
	}
	m := regexp.MustCompile(`<a class="count" href="([^"]*)"[^>]*>\(3\)</a>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no conversation of 3: %s", body)
	}
	_, _, body = c.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if !strings.Contains(body, "3 messages in this conversation") {
		t.Fatalf("expanded: %s", body)
	}
	i1, i2 := strings.Index(body, ">plan<"), strings.LastIndex(body, ">Re: plan<")
	if i1 < 0 || i2 < i1 || strings.Contains(body, ">other<") {
		t.Errorf("expanded conversation order or content: %s", body)
	}
}

func TestMailWithoutPipeline(t *testing.T) {
	h := mailHarness(t, func(o *web.MailOptions, _ *deliverytest.Env) { o.Pipeline = nil })
	c := h.loggedIn("u1@a.example")
	v := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"x"}, "body": {"x"}}
	st, _, body := c.multipartPost("/mail/compose", v, nil)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "Sending is not available") {
		t.Fatalf("send without a pipeline: %d", st)
	}
	if n := h.env.Total(t, h.acct["u2@a.example"]); n != 0 {
		t.Fatalf("delivered %d", n)
	}
	v.Set("op", "draft")
	if st, _, body := c.multipartPost("/mail/compose", v, nil); st != http.StatusSeeOther {
		t.Fatalf("draft without a pipeline: %d %s", st, body)
	}
}

// plainShards hides the driver's text index (store.TextSearcher): the webmail then reads
// bodies itself.
type plainShards struct{ inner store.Shards }

type plainStore struct{ store.Store }

func (p plainShards) Shard(name string) (store.Store, error) {
	st, err := p.inner.Shard(name)
	return plainStore{st}, err
}

func TestMailSearchWithoutIndex(t *testing.T) {
	for _, lim := range []int{0, 1} { // 0: the default limit
		h := mailHarness(t, func(o *web.MailOptions, e *deliverytest.Env) {
			o.Shards, o.SearchScanLimit = plainShards{e.Shards}, lim
		})
		c := h.loggedIn("u1@a.example")
		for i, w := range []string{"zebra", "lion", "zebra"} {
			h.deliver("u1@a.example", strings.Replace(fmt.Sprintf(textMail, fmt.Sprint("animal ", i), fmt.Sprint("z", i), "u1"), "this is the text", "a "+w+" here", 1))
		}
		_, _, body := c.get("/mail/search?body=ZEBRA")
		want := 2
		if lim == 1 {
			want = 1 // only the newest body is read
			if !strings.Contains(body, "read only the most recent messages") {
				t.Errorf("limit %d: no partial note", lim)
			}
		}
		if got := strings.Count(body, `<tr class="row`); got != want {
			t.Errorf("limit %d: %d results, want %d", lim, got, want)
		}
	}
}
