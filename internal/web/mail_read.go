package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"mailgrid/internal/message"
	"mailgrid/internal/message/htmlsafe"
	"mailgrid/internal/store"
)

// Reading a message. Safety model for what a message carries:
//   - Text bodies are escaped by html/template.
//   - An HTML body is sanitised (htmlsafe) and served as a document of its own at
//     .../frame, shown in <iframe sandbox="allow-popups allow-popups-to-escape-sandbox">:
//     no script, an opaque origin (no cookies, no access to this page), no forms. Its
//     response carries its own CSP (frameCSP): nothing but inline style and, only when
//     the user allowed remote images for this message (?images=1), http(s) images, so a
//     CSS or image beacon the sanitiser missed is still never fetched.
//   - Images the HTML refers to by cid: (RFC 2392) are inlined as data: URLs: the frame's
//     opaque origin sends no SameSite=Strict session cookie and our
//     Cross-Origin-Resource-Policy refuses it, so a URL on this origin would not load.
//   - Parts are downloaded with Content-Disposition: attachment (RFC 6266, filename* per
//     RFC 8187), nosniff, a generic type unless a raster image, and "CSP: sandbox", so no
//     attachment runs script in our origin even if opened in a tab.

// Limits of what one page reads.
const (
	maxTextShown  = 2 << 20  // decoded text shown on the page
	maxHTMLShown  = 5 << 20  // decoded HTML sanitised for the frame
	maxInlineCID  = 2 << 20  // one cid: image inlined
	maxInlineCIDs = 10 << 20 // all cid: images of a message
)

// frameCSP is the policy of the HTML frame document; img is the img-src list.
func frameCSP(images bool) string {
	img := "data:"
	if images {
		img = "data: http: https:"
	}
	return "default-src 'none'; img-src " + img + "; style-src 'unsafe-inline'; font-src 'none'; " +
		"form-action 'none'; frame-ancestors 'self'; base-uri 'none'; " +
		"sandbox allow-popups allow-popups-to-escape-sandbox"
}

// downloadCSP is the policy of raw sources and downloaded parts.
const downloadCSP = "sandbox; default-src 'none'"

// readView is a message on the read page.
type readView struct {
	Mailbox                      store.MailboxID
	UID                          store.UID
	Folder                       string
	Subject, From, To, Cc, Date  string
	ReplyTo                      string
	Text                         string
	HTML                         bool
	AsText                       bool
	FrameURL, ImagesURL, TextURL string
	Images                       bool
	RemoteBlocked                int
	Sender                       string // the one From address, offered for "always show images"
	SenderAllowed                bool   // images shown because the sender is on the user's list
	Attachments                  []attachView
	Flagged, Draft, Seen         bool
}

type attachView struct {
	Section, Name, Type string
	Size                int64
	URL                 string
}

// opened is a message located by the URL's folder and UID, with its parsed Info.
type opened struct {
	mb   store.Mailbox
	msg  store.Message
	info *message.Info
}

// openMessage finds the message of the URL; ok false means the answer was written.
func (s *Server) openMessage(w http.ResponseWriter, r *http.Request, c *mailCtx) (*opened, bool) {
	mb, ok := c.box(r.PathValue("mb"))
	uid, err := strconv.ParseUint(r.PathValue("uid"), 10, 32)
	if !ok || err != nil || uid == 0 {
		s.mailError(w, r, c, http.StatusNotFound, "No such message.")
		return nil, false
	}
	o, err := s.openUID(r.Context(), c, mb, store.UID(uid))
	if errors.Is(err, store.ErrNotFound) {
		s.mailError(w, r, c, http.StatusNotFound, "No such message (it may have been moved or deleted).")
		return nil, false
	}
	if err != nil {
		s.log.Error("webmail: open message", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The message could not be read right now; try again in a moment.")
		return nil, false
	}
	return o, true
}

func (s *Server) openUID(ctx context.Context, c *mailCtx, mb store.Mailbox, uid store.UID) (*opened, error) {
	m, err := c.one(ctx, mb.ID, uid)
	if err != nil {
		return nil, err
	}
	info := &message.Info{}
	if len(m.Meta) == 0 || json.Unmarshal(m.Meta, info) != nil {
		// No cached structure (an old row): parse the body once.
		b, err := c.st.OpenBlob(ctx, c.ref, m.ID)
		if err != nil {
			return nil, err
		}
		info, err = message.Parse(b, b.Size())
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
	}
	return &opened{mb: mb, msg: m, info: info}, nil
}

// partRef is a leaf part with its IMAP section number (RFC 9051 6.4.5).
type partRef struct {
	section string
	p       *message.Part
}

// bodyParts picks the text and HTML bodies and the attachments of a message: the first
// text/plain and text/html not marked or named as attachments are the bodies; parts with
// a Content-ID and no name are inline (cid:) resources, not listed.
func bodyParts(root *message.Part) (text, html *partRef, attach, inline []partRef) {
	var walk func(p *message.Part, section string, depth int)
	walk = func(p *message.Part, section string, depth int) {
		if depth > message.MaxDepth {
			return
		}
		if p.IsMultipart() {
			for i := range p.Children {
				sub := strconv.Itoa(i + 1)
				if section != "" {
					sub = section + "." + sub
				}
				walk(&p.Children[i], sub, depth+1)
			}
			return
		}
		if section == "" {
			section = "1"
		}
		ref := partRef{section: section, p: p}
		named := partName(p) != ""
		isAttach := p.Disposition == "attachment" || named && p.Disposition != "inline" ||
			p.Type == "message"
		switch {
		case !isAttach && p.Type == "text" && p.Subtype == "plain" && text == nil:
			text = &ref
		case !isAttach && p.Type == "text" && p.Subtype == "html" && html == nil:
			html = &ref
		case !named && p.ID != "" && p.Disposition != "attachment":
			inline = append(inline, ref)
		default:
			attach = append(attach, ref)
		}
	}
	walk(root, "", 0)
	return text, html, attach, inline
}

// partName is a part's file name (RFC 2183 filename, else the Content-Type name).
func partName(p *message.Part) string {
	if n := p.DispositionParams["filename"]; n != "" {
		return n
	}
	return p.Params["name"]
}

// partReader undoes a part's Content-Transfer-Encoding (RFC 2045 6).
func partReader(b io.ReaderAt, p *message.Part) io.Reader {
	var rd io.Reader = io.NewSectionReader(b, p.BodyStart, max(0, p.End-p.BodyStart))
	switch strings.ToLower(p.Encoding) {
	case "base64":
		rd = base64.NewDecoder(base64.StdEncoding, &stripSpace{r: rd})
	case "quoted-printable":
		rd = quotedprintable.NewReader(rd)
	}
	return rd
}

// stripSpace drops the white space base64 bodies are folded with (RFC 2045 6.8 lets a
// decoder ignore characters outside the alphabet; Go's decoder skips only CR and LF).
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c != ' ' && c != '\t' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// readPart returns at most limit decoded bytes of p; truncated reports a longer part.
func readPart(b io.ReaderAt, p *message.Part, limit int64) ([]byte, bool, error) {
	data, err := io.ReadAll(io.LimitReader(partReader(b, p), limit+1))
	var ce base64.CorruptInputError
	if errors.As(err, &ce) || err != nil && strings.Contains(err.Error(), "quotedprintable") {
		err = nil // malformed content: show what decoded
	}
	if int64(len(data)) > limit {
		return data[:limit], true, err
	}
	return data, false, err
}

// textOf decodes a text part's bytes from its charset to valid UTF-8.
func textOf(data []byte, p *message.Part) string {
	cs := strings.ToLower(p.Params["charset"])
	if cs != "" && cs != "utf-8" && cs != "us-ascii" && cs != "utf8" {
		if rd, err := charset.Reader(cs, bytes.NewReader(data)); err == nil {
			if dec, err := io.ReadAll(rd); err == nil {
				data = dec
			}
		}
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

// displayList formats addresses as "Name <a@b>, c@d".
func displayList(list []message.Address) string {
	var out []string
	for _, a := range list {
		addr := a.Mailbox
		if a.Host != "" {
			addr += "@" + a.Host
		}
		if a.Name != "" {
			addr = a.Name + " <" + addr + ">"
		}
		out = append(out, addr)
	}
	return strings.Join(out, ", ")
}

func decodeHeader(v string) string {
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	if out, err := dec.DecodeHeader(v); err == nil {
		return strings.ToValidUTF8(out, "\uFFFD")
	}
	return v
}

func (s *Server) mailRead(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	o, ok := s.openMessage(w, r, c)
	if !ok {
		return
	}
	ctx := r.Context()
	env := o.info.Envelope
	base := fmt.Sprintf("/mail/m/%d/%d", o.mb.ID, o.msg.UID)
	v := &readView{Mailbox: o.mb.ID, UID: o.msg.UID, Folder: o.mb.Name, Subject: o.info.Subject,
		From: displayList(env.From), To: displayList(env.To), Cc: displayList(env.Cc),
		Date: c.ui.HeaderDate(decodeHeader(env.Date)), Flagged: slices.Contains(o.msg.Flags, store.FlagFlagged),
		Draft: slices.Contains(o.msg.Flags, store.FlagDraft), Seen: true}
	if len(env.ReplyTo) > 0 && displayList(env.ReplyTo) != v.From {
		v.ReplyTo = displayList(env.ReplyTo)
	}
	if v.Subject == "" {
		v.Subject = "(no subject)"
	}
	text, html, attach, _ := bodyParts(&o.info.Structure)
	v.Images = r.URL.Query().Get("images") == "1"
	if len(env.From) == 1 {
		v.Sender = normSender(addrString(env.From[0]))
	}
	// The user's list of senders whose remote images always load (mail_prefs.go): the
	// same as the per-message click; the frame keeps its CSP and sandbox.
	if !v.Images && c.ui.ImagesAllowed(env.From) {
		v.Images, v.SenderAllowed = true, true
	}
	v.AsText = r.URL.Query().Get("view") == "text"
	blob, err := c.st.OpenBlob(ctx, c.ref, o.msg.ID)
	if err != nil {
		s.log.Error("webmail: open blob", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The message body could not be read right now; try again in a moment.")
		return
	}
	defer func() { _ = blob.Close() }() // read-only
	switch {
	case html != nil && !v.AsText:
		v.HTML = true
		v.FrameURL = base + "/frame"
		if v.Images {
			v.FrameURL += "?images=1"
		}
		v.ImagesURL, v.TextURL = base+"?images=1", base+"?view=text"
		// Count what the frame will block, to offer "show images".
		if data, _, err := readPart(blob, html.p, maxHTMLShown); err == nil && !v.Images {
			v.RemoteBlocked = c.a.clean.Sanitize(textOf(data, html.p), htmlsafe.Options{}).RemoteBlocked
		}
	case text != nil:
		data, cut, err := readPart(blob, text.p, maxTextShown)
		if err != nil {
			s.log.Error("webmail: read text", "err", err)
		}
		v.Text = textOf(data, text.p)
		if cut {
			v.Text += "\n\n[… the rest of this text is in the raw source]"
		}
	case html != nil:
		data, _, err := readPart(blob, html.p, maxHTMLShown)
		if err != nil {
			s.log.Error("webmail: read html", "err", err)
		}
		v.Text = strings.TrimSpace(store.StripHTML(textOf(data, html.p)))
	}
	for _, a := range attach {
		name := partName(a.p)
		if name == "" {
			name = "part-" + a.section
			if a.p.Type == "message" {
				name += ".eml"
			}
		}
		v.Attachments = append(v.Attachments, attachView{Section: a.section, Name: name,
			Type: a.p.Type + "/" + a.p.Subtype, Size: a.p.Size, URL: base + "/part/" + a.section})
	}
	if !slices.Contains(o.msg.Flags, store.FlagSeen) {
		if _, err := c.st.StoreFlags(ctx, c.ref, o.mb.ID, store.FlagUpdate{UIDs: []store.UID{o.msg.UID},
			Op: store.FlagsAdd, Flags: []string{store.FlagSeen}}); err != nil {
			s.log.Warn("webmail: mark seen", "err", err)
		} else if err := c.reload(ctx); err != nil {
			s.log.Warn("webmail: reload folders", "err", err)
		}
	}
	d := s.pageOf(ctx, c, v.Subject, o.mb.ID)
	d.Msg = v
	// The page's policy plus this origin's frames: the body frame.
	w.Header().Set("Content-Security-Policy", csp+"; frame-src 'self'")
	d.Back = r.URL.RequestURI()
	d.Flash = flashText(r.URL.Query().Get("done"))
	s.mailRender(w, c, http.StatusOK, "read", d)
}

// mailFrame serves the sanitised HTML body as a document for the sandboxed frame.
func (s *Server) mailFrame(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	o, ok := s.openMessage(w, r, c)
	if !ok {
		return
	}
	_, html, _, inline := bodyParts(&o.info.Structure)
	if html == nil {
		s.mailError(w, r, c, http.StatusNotFound, "This message has no HTML body.")
		return
	}
	blob, err := c.st.OpenBlob(r.Context(), c.ref, o.msg.ID)
	if err != nil {
		s.log.Error("webmail: open blob", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	defer func() { _ = blob.Close() }() // read-only
	data, _, err := readPart(blob, html.p, maxHTMLShown)
	if err != nil {
		s.log.Error("webmail: read html", "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	images := r.URL.Query().Get("images") == "1"
	budget := int64(maxInlineCIDs)
	res := c.a.clean.Sanitize(textOf(data, html.p), htmlsafe.Options{RemoteImages: images,
		CID: func(id string) string { return inlineCID(blob, inline, id, &budget) }})
	h := w.Header()
	h.Set("Content-Security-Policy", frameCSP(images))
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><style>` +
		`body{font-family:system-ui,sans-serif;margin:8px;overflow-wrap:anywhere}img{max-width:100%;height:auto}` +
		`</style></head><body>`)
	b.WriteString(res.HTML)
	b.WriteString(`</body></html>`)
	if _, err := io.WriteString(w, b.String()); err != nil {
		s.log.Debug("webmail: write frame", "err", err)
	}
}

// inlineCID returns a data: URL for the inline raster image with Content-ID id, or "".
func inlineCID(blob io.ReaderAt, inline []partRef, id string, budget *int64) string {
	for _, ref := range inline {
		p := ref.p
		if strings.Trim(p.ID, "<> ") != id || p.Type != "image" || !rasterImage(p.Subtype) {
			continue
		}
		data, cut, err := readPart(blob, p, maxInlineCID)
		if err != nil || cut || int64(len(data)) > *budget {
			return ""
		}
		*budget -= int64(len(data))
		return "data:image/" + p.Subtype + ";base64," + base64.StdEncoding.EncodeToString(data)
	}
	return ""
}

func rasterImage(sub string) bool {
	return slices.Contains([]string{"png", "gif", "jpeg", "webp", "bmp"}, sub)
}

// mailPart downloads one part (RFC 9051 section number).
func (s *Server) mailPart(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	o, ok := s.openMessage(w, r, c)
	if !ok {
		return
	}
	var path []int
	for _, f := range strings.Split(r.PathValue("section"), ".") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || len(path) > message.MaxDepth {
			s.mailError(w, r, c, http.StatusNotFound, "No such part.")
			return
		}
		path = append(path, n)
	}
	p, found := o.info.Structure.Find(path...)
	if !found || p.IsMultipart() {
		s.mailError(w, r, c, http.StatusNotFound, "No such part.")
		return
	}
	blob, err := c.st.OpenBlob(r.Context(), c.ref, o.msg.ID)
	if err != nil {
		s.log.Error("webmail: open blob", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The attachment could not be read right now; try again in a moment.")
		return
	}
	defer func() { _ = blob.Close() }() // read-only
	name := partName(p)
	if name == "" {
		name = "part-" + r.PathValue("section")
	}
	ctype := "application/octet-stream"
	switch {
	case p.Type == "image" && rasterImage(p.Subtype):
		ctype = "image/" + p.Subtype
	case p.Type == "message":
		ctype = "message/rfc822"
		if !strings.HasSuffix(strings.ToLower(name), ".eml") {
			name += ".eml"
		}
	}
	setDownload(w.Header(), ctype, name)
	if _, err := io.Copy(w, partReader(blob, p)); err != nil {
		s.log.Debug("webmail: write part", "err", err)
	}
}

// mailRaw shows the message source as text.
func (s *Server) mailRaw(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	s.serveBlob(w, r, c, false)
}

// mailEML downloads the message as a .eml file (RFC 5322 as stored).
func (s *Server) mailEML(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	s.serveBlob(w, r, c, true)
}

func (s *Server) serveBlob(w http.ResponseWriter, r *http.Request, c *mailCtx, download bool) {
	o, ok := s.openMessage(w, r, c)
	if !ok {
		return
	}
	blob, err := c.st.OpenBlob(r.Context(), c.ref, o.msg.ID)
	if err != nil {
		s.log.Error("webmail: open blob", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The message could not be read right now; try again in a moment.")
		return
	}
	defer func() { _ = blob.Close() }() // read-only
	h := w.Header()
	if download {
		name := strings.TrimSpace(o.info.Subject)
		if name == "" {
			name = "message"
		}
		setDownload(h, "message/rfc822", name+".eml")
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Security-Policy", downloadCSP)
	}
	h.Set("Content-Length", strconv.FormatInt(blob.Size(), 10))
	if _, err := io.Copy(w, io.NewSectionReader(blob, 0, blob.Size())); err != nil {
		s.log.Debug("webmail: write source", "err", err)
	}
}

// setDownload sets the headers of a download: a file name any browser reads (RFC 6266
// 4.3: an ASCII filename and the UTF-8 filename*, RFC 8187), and a sandbox CSP.
func setDownload(h http.Header, ctype, name string) {
	name = safeFilename(name)
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", `attachment; filename="`+ascii+`"; filename*=UTF-8''`+extValue(name))
	h.Set("Content-Security-Policy", downloadCSP)
	h.Set("X-Content-Type-Options", "nosniff")
}

// extValue percent-encodes s as an RFC 8187 3.2.1 value-chars: UTF-8 octets, all but
// attr-char encoded.
func extValue(s string) string {
	const attrChar = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attrChar, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// safeFilename keeps a file name's last path component without control or separator
// characters, at most 150 bytes, never empty or dot-only.
func safeFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\' || r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|':
			return '_'
		case unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Bidi_Control, r):
			return -1
		}
		return r
	}, name)
	name = strings.Trim(strings.TrimSpace(name), ".")
	for len(name) > 150 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		return "download"
	}
	return name
}
