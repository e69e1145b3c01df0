package web

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"mailgrid/internal/message/htmlsafe"
)

// Rich-text compose. Model: compose has a mode, "plain" (the textarea) or "rich"
// (assets/mail_richtext.js: a contenteditable editor of our own with bold, italic,
// underline, lists, links and quotes, which posts its HTML in the "html" field). The
// server never trusts that HTML: it is passed through the same sanitiser as received
// mail (htmlsafe, remote images dropped), and the text/plain alternative is generated
// from the sanitised HTML here (htmlText), so both parts say the same. The message is
// multipart/alternative, plain first and HTML last (RFC 2046 5.1.4: the last part is
// the preferred one), inside multipart/mixed when there are attachments. A draft saved
// in rich mode is such a message: re-opened, its HTML part puts compose back in rich
// mode (prefillDraft).

const (
	modePlain = "plain"
	modeRich  = "rich"
	// maxRichHTML bounds the posted HTML of the editor (the message limit applies too).
	maxRichHTML = 2 << 20
)

//go:embed assets/mail_richtext.js
var richTextJS []byte

// mailRichTextPages serves the editor script at /mail/richtext.js.
func (s *Server) mailRichTextPages(page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	js := richTextJS
	page("GET /mail/richtext.js", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.serveAsset(w, "text/javascript; charset=utf-8", js)
	})
}

// richBody validates the posted rich body: the sanitised HTML and its plain text. An
// empty editor is an empty plain body.
func richBody(clean *htmlsafe.Sanitizer, src string) (htmlPart, text string, err error) {
	if len(src) > maxRichHTML {
		return "", "", badForm("The formatted text is larger than %s.", mailSize(maxRichHTML))
	}
	res := clean.Sanitize(src, htmlsafe.Options{})
	text = htmlText(res.HTML)
	if strings.TrimSpace(text) == "" {
		return "", "", nil
	}
	return res.HTML, text, nil
}

// alternative is the multipart/alternative body of a rich message: its Content-Type
// and content (RFC 2046 5.1.4: text/plain, then text/html).
func (o *outgoing) alternative() (string, []byte, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range []struct{ ctype, text string }{{"text/plain; charset=utf-8", o.Text}, {"text/html; charset=utf-8", o.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return "", nil, err
		}
		if err := writeQP(w, p.text); err != nil {
			return "", nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("multipart/alternative; boundary=%q", mw.Boundary()), body.Bytes(), nil
}

// writeAlternativeTop writes a rich message's body as the message's own: its
// Content-Type field, the blank line and the parts.
func (o *outgoing) writeAlternativeTop(w io.Writer) error {
	ctype, body, err := o.alternative()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "Content-Type: %s\r\n\r\n", ctype); err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// writeAlternativePart writes a rich body as the first part of a multipart/mixed.
func (o *outgoing) writeAlternativePart(mw *multipart.Writer) error {
	ctype, body, err := o.alternative()
	if err != nil {
		return err
	}
	w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ctype}})
	if err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// prefillRich puts compose in rich mode with a draft's HTML body, sanitised again (a
// draft may also have been stored over IMAP).
func (s *Server) prefillRich(ctx context.Context, c *mailCtx, v *composeView, o *opened) error {
	_, h, _, _ := bodyParts(&o.info.Structure)
	if h == nil {
		return nil
	}
	b, err := c.st.OpenBlob(ctx, c.ref, o.msg.ID)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }() // read-only
	data, _, err := readPart(b, h.p, maxRichHTML)
	if err != nil {
		return err
	}
	v.Mode, v.HTML = modeRich, c.a.clean.Sanitize(textOf(data, h.p), htmlsafe.Options{}).HTML
	return nil
}
