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
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

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

// htmlText renders sanitised HTML as plain text for the text/plain alternative:
// paragraphs and breaks as line breaks, list items as "- " or "1. ", quotes as "> "
// lines (RFC 3676 4.5 style), links as "text <url>" when the text is not the URL.
func htmlText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var (
		b      strings.Builder
		quote  int
		lists  []int // per open list: 0 bulleted, else the next number
		hrefs  []string
		atLine = true
		space  bool // white space seen since the last word
	)
	newline := func() {
		b.WriteString("\n")
		atLine, space = true, false
	}
	block := func() {
		if !atLine {
			newline()
		}
	}
	write := func(s string) {
		if atLine {
			if quote > 0 {
				b.WriteString(strings.Repeat(">", quote) + " ")
			}
			atLine = false
		}
		b.WriteString(s)
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			// A link left open (never in sanitised HTML) leaves its marker: drop it.
			return strings.ReplaceAll(strings.TrimRight(b.String(), "\n "), "\x00", "") + "\n"
		case html.TextToken:
			raw := string(z.Text()) // Text consumes the token's text: read it once
			t := strings.Join(strings.Fields(raw), " ")
			if raw == "" {
				continue
			}
			// White space between words collapses to one space (HTML), none at a line start.
			if strings.TrimLeftFunc(raw, unicode.IsSpace) != raw { // also &nbsp;
				space = true
			}
			if t == "" {
				continue
			}
			if space && !atLine {
				write(" ")
			}
			write(t)
			space = strings.TrimRightFunc(raw, unicode.IsSpace) != raw
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Br:
				newline()
			case atom.P, atom.Div, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Pre, atom.Table, atom.Tr:
				block()
			case atom.Blockquote:
				block()
				quote++
			case atom.Ul:
				block()
				lists = append(lists, 0)
			case atom.Ol:
				block()
				lists = append(lists, 1)
			case atom.Li:
				block()
				marker := "- "
				if n := len(lists); n > 0 && lists[n-1] > 0 {
					marker = strconv.Itoa(lists[n-1]) + ". "
					lists[n-1]++
				}
				write(strings.Repeat("  ", max(0, len(lists)-1)) + marker)
			case atom.A:
				href := ""
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					if string(k) == "href" {
						href = string(v)
					}
				}
				hrefs = append(hrefs, href)
				b.WriteString("\x00") // marks where the link text starts
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.P, atom.Div, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Pre, atom.Li, atom.Table, atom.Tr:
				block()
			case atom.Blockquote:
				block()
				quote = max(0, quote-1)
			case atom.Ul, atom.Ol:
				block()
				if len(lists) > 0 {
					lists = lists[:len(lists)-1]
				}
			case atom.A:
				if len(hrefs) > 0 {
					href := hrefs[len(hrefs)-1]
					hrefs = hrefs[:len(hrefs)-1]
					linkText(&b, href)
				}
			}
		}
	}
}

// linkText ends a link in b: the text since the last NUL marker, then " <href>" unless
// the text is the address itself.
func linkText(b *strings.Builder, href string) {
	s := b.String()
	i := strings.LastIndexByte(s, 0)
	if i < 0 {
		return
	}
	text := s[i+1:]
	b.Reset()
	b.WriteString(s[:i])
	b.WriteString(text)
	if href != "" && strings.TrimSpace(text) != href && strings.TrimSpace(text) != strings.TrimPrefix(href, "mailto:") {
		b.WriteString(" <" + href + ">")
	}
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
