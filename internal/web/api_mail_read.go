package web

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"mailgrid/internal/message"
	"mailgrid/internal/message/htmlsafe"
	"mailgrid/internal/store"
)

// Reading one message through the mail API: JSON, the raw source and attachments.

// attachmentJSON is one attachment of a message; section is its RFC 9051 6.4.5 part
// number, the name of its download.
type attachmentJSON struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Size    int64  `json:"size"`
}

// messageJSON is one message read whole.
type messageJSON struct {
	summaryJSON
	Cc            string           `json:"cc"`
	ReplyTo       string           `json:"reply_to"`
	MessageID     string           `json:"message_id"`
	InReplyTo     string           `json:"in_reply_to"`
	References    []string         `json:"references"`
	Text          string           `json:"text"`           // the text body (or the HTML body's text)
	TextTruncated bool             `json:"text_truncated"` // the rest is in the raw source
	HTML          string           `json:"html"`           // the HTML body, sanitised; "" if none
	RemoteBlocked int              `json:"remote_blocked"` // remote resources the HTML lost
	Attachments   []attachmentJSON `json:"attachments"`
}

// read answers one message (GET /api/v1/mail/message?mailbox=ID&uid=N).
func (m *mailAPI) read(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	o, err := m.located(r, c)
	if err != nil {
		return err
	}
	blob, err := c.st.OpenBlob(r.Context(), c.ref, o.msg.ID)
	if err != nil {
		return m.storeErr(err)
	}
	defer func() { _ = blob.Close() }() // read-only
	env := o.info.Envelope
	v := messageJSON{summaryJSON: summaryOf(o.msg, o.info), Cc: displayList(env.Cc), MessageID: o.info.MessageID,
		InReplyTo: o.info.InReplyTo, References: slicesOrEmpty(o.info.References), Attachments: []attachmentJSON{}}
	if len(env.ReplyTo) > 0 {
		v.ReplyTo = displayList(env.ReplyTo)
	}
	text, html, attach, inline := bodyParts(&o.info.Structure)
	if text != nil {
		data, cut, err := readPart(blob, text.p, maxTextShown)
		if err != nil {
			return m.storeErr(err)
		}
		v.Text, v.TextTruncated = textOf(data, text.p), cut
	}
	if html != nil {
		data, _, err := readPart(blob, html.p, maxHTMLShown)
		if err != nil {
			return m.storeErr(err)
		}
		src := textOf(data, html.p)
		budget := int64(maxInlineCIDs)
		res := m.clean.Sanitize(src, htmlsafe.Options{CID: func(id string) string { return inlineCID(blob, inline, id, &budget) }})
		v.HTML, v.RemoteBlocked = res.HTML, res.RemoteBlocked
		if text == nil {
			v.Text = strings.TrimSpace(store.StripHTML(src))
		}
	}
	for _, a := range attach {
		v.Attachments = append(v.Attachments, attachmentJSON{Section: a.section, Name: attachmentName(a.p, a.section),
			Type: a.p.Type + "/" + a.p.Subtype, Size: a.p.Size})
	}
	m.s.writeJSON(w, http.StatusOK, v)
	return nil
}

// attachmentName is a part's file name, or "part-SECTION" (".eml" for a message).
func attachmentName(p *message.Part, section string) string {
	name := partName(p)
	if name == "" {
		name = "part-" + section
		if p.Type == "message" {
			name += ".eml"
		}
	}
	return name
}

// raw downloads the message as stored (GET /api/v1/mail/message/raw).
func (m *mailAPI) raw(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	o, err := m.located(r, c)
	if err != nil {
		return err
	}
	blob, err := c.st.OpenBlob(r.Context(), c.ref, o.msg.ID)
	if err != nil {
		return m.storeErr(err)
	}
	defer func() { _ = blob.Close() }() // read-only
	name := strings.TrimSpace(o.info.Subject)
	if name == "" {
		name = "message"
	}
	setDownload(w.Header(), "message/rfc822", name+".eml")
	w.Header().Set("Content-Length", strconv.FormatInt(blob.Size(), 10))
	if _, err := io.Copy(w, io.NewSectionReader(blob, 0, blob.Size())); err != nil {
		m.s.log.Debug("mail api: write source", "err", err)
	}
	return nil
}

// attachment downloads one part (GET /api/v1/mail/message/attachment?...&section=2.1).
func (m *mailAPI) attachment(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	o, err := m.located(r, c)
	if err != nil {
		return err
	}
	section := r.URL.Query().Get("section")
	var path []int
	for _, f := range strings.Split(section, ".") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || len(path) > message.MaxDepth {
			return errNotFound()
		}
		path = append(path, n)
	}
	p, found := o.info.Structure.Find(path...)
	if !found || p.IsMultipart() {
		return errNotFound()
	}
	blob, err := c.st.OpenBlob(r.Context(), c.ref, o.msg.ID)
	if err != nil {
		return m.storeErr(err)
	}
	defer func() { _ = blob.Close() }() // read-only
	name := attachmentName(p, section)
	ctype := "application/octet-stream"
	switch {
	case p.Type == "image" && rasterImage(p.Subtype):
		ctype = "image/" + p.Subtype
	case p.Type == "message":
		ctype = "message/rfc822"
	}
	setDownload(w.Header(), ctype, name)
	if _, err := io.Copy(w, partReader(blob, p)); err != nil {
		m.s.log.Debug("mail api: write part", "err", err)
	}
	return nil
}
