package web_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"testing"

	"mailgrid/internal/store"
)

// Rich-text compose through the real pipeline: the delivered message is
// multipart/alternative (text/plain made from the sanitised HTML, then the HTML), and
// a draft saved in rich mode opens in rich mode.

const hostileRich = `<div>Hello <b>bold</b> <i>it</i> <u>under</u></div><ul><li>one</li><li>two</li></ul>` +
	`<blockquote>quoted</blockquote><a href="https://example.test/doc">the doc</a>` +
	`<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">js</a>` +
	`<img src="http://beacon.test/p.gif"><p style="background:url(http://beacon.test/bg)">styled</p>`

// parts returns the leaf parts of a message by content type (decoded), and the
// content types in order of appearance.
func leafParts(t *testing.T, raw []byte) (map[string]string, []string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	out, order := map[string]string{}, []string{}
	var walk func(ctype string, h func(string) string, body io.Reader, depth int)
	walk = func(ctype string, h func(string) string, body io.Reader, depth int) {
		mt, params, err := mime.ParseMediaType(ctype)
		if err != nil || depth > 5 {
			t.Fatalf("content type %q: %v", ctype, err)
		}
		order = append(order, mt)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				walk(p.Header.Get("Content-Type"), p.Header.Get, p, depth+1)
			}
		}
		var rd io.Reader = body
		if strings.EqualFold(h("Content-Transfer-Encoding"), "quoted-printable") {
			rd = quotedprintable.NewReader(body)
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			t.Fatal(err)
		}
		out[mt] = string(b)
	}
	walk(m.Header.Get("Content-Type"), m.Header.Get, m.Body, 0)
	return out, order
}

func TestMailRichTextSend(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	send := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"rich"},
		"body": {"what the browser had as text"}, "mode": {"rich"}, "html": {hostileRich}}
	if st, loc, body := c.multipartPost("/mail/compose", send, nil); st != http.StatusSeeOther || !strings.HasSuffix(loc, "done=sent") {
		t.Fatalf("send: %d %s %s", st, loc, body)
	}
	got := h.env.Messages(t, h.acct["u2@a.example"], "INBOX")
	if len(got) != 1 {
		t.Fatalf("u2 has %d messages", len(got))
	}
	parts, order := leafParts(t, got[0].Body)
	if strings.Join(order, " ") != "multipart/alternative text/plain text/html" {
		t.Errorf("structure %v", order)
	}
	text, html := parts["text/plain"], parts["text/html"]
	for _, want := range []string{"Hello bold it under", "- one\n- two", "> quoted", "the doc <https://example.test/doc>"} {
		if !strings.Contains(strings.ReplaceAll(text, "\r\n", "\n"), want) {
			t.Errorf("text/plain lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"<b>bold</b>", "<u>under</u>", "<li>one</li>", "<blockquote>", `href="https://example.test/doc"`} {
		if !strings.Contains(html, want) {
			t.Errorf("text/html lacks %q:\n%s", want, html)
		}
	}
	for _, bad := range []string{"<script", "onerror", "javascript:", "beacon.test", "alert"} {
		if strings.Contains(string(got[0].Body), bad) {
			t.Errorf("the sent message contains %q", bad)
		}
	}

	// With an attachment: multipart/mixed around the alternative.
	send.Set("subject", "rich with file")
	if st, _, body := c.multipartPost("/mail/compose", send, map[string]string{"a.txt": "file\n"}); st != http.StatusSeeOther {
		t.Fatalf("send with file: %d %s", st, body)
	}
	got = h.env.Messages(t, h.acct["u2@a.example"], "INBOX")
	if _, order := leafParts(t, got[len(got)-1].Body); strings.Join(order, " ") != "multipart/mixed multipart/alternative text/plain text/html application/octet-stream" {
		t.Errorf("structure with a file %v", order)
	}
}

func TestMailRichTextDraft(t *testing.T) {
	h := mailHarness(t, nil)
	c := h.loggedIn("u1@a.example")
	draft := url.Values{"op": {"draft"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"rich draft"},
		"mode": {"rich"}, "html": {`<b>kept</b> <a href="https://x.test/">link</a>`}}
	st, loc, body := c.multipartPost("/mail/compose", draft, nil)
	if st != http.StatusSeeOther || !strings.Contains(loc, "draft=") {
		t.Fatalf("draft: %d %s %s", st, loc, body)
	}
	dr := h.box("u1@a.example", store.Drafts)
	m := h.msgs("u1@a.example", dr)[0]
	_, _, form := c.get(fmt.Sprintf("/mail/compose?draft=%d/%d", dr.ID, m.UID))
	for _, want := range []string{`id="compose-mode" value="plain" data-initial="rich"`, `&lt;b&gt;kept&lt;/b&gt;`, `id="format-rich" checked`, "/mail/richtext.js"} {
		if !strings.Contains(form, want) {
			t.Errorf("re-opened draft lacks %q", want)
		}
	}
	// A plain draft stays plain.
	draft = url.Values{"op": {"draft"}, "from": {"u1@a.example"}, "subject": {"plain draft"}, "body": {"just text"}}
	if st, _, body := c.multipartPost("/mail/compose", draft, nil); st != http.StatusSeeOther {
		t.Fatalf("plain draft: %d %s", st, body)
	}
	ms := h.msgs("u1@a.example", dr)
	_, _, form = c.get(fmt.Sprintf("/mail/compose?draft=%d/%d", dr.ID, ms[len(ms)-1].UID))
	if !strings.Contains(form, `id="compose-mode" value="plain">`) || !strings.Contains(form, "just text") {
		t.Errorf("plain draft re-opened: %s", form)
	}
	// The editor script is served to a signed-in user.
	if st, hdr, js := c.get("/mail/richtext.js"); st != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/javascript") || !strings.Contains(js, "contenteditable") {
		t.Errorf("richtext.js: %d %v", st, hdr)
	}
}
