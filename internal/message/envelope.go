package message

import (
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
)

// buildEnvelope returns the IMAP ENVELOPE of a message header (RFC 9051 7.5.2).
func buildEnvelope(h *header) Envelope {
	var env Envelope
	env.Date, _ = h.get("date")
	env.Subject, _ = h.get("subject")
	env.InReplyTo, _ = h.get("in-reply-to")
	env.MessageID, _ = h.get("message-id")
	env.From = addressField(h, "from")
	env.Sender = addressField(h, "sender")
	env.ReplyTo = addressField(h, "reply-to")
	env.To = addressField(h, "to")
	env.Cc = addressField(h, "cc")
	env.Bcc = addressField(h, "bcc")
	// RFC 9051 7.5.2: absent or empty Sender and Reply-To are set to From.
	if len(env.Sender) == 0 {
		env.Sender = env.From
	}
	if len(env.ReplyTo) == 0 {
		env.ReplyTo = env.From
	}
	return env
}

// fillInfo sets the envelope and the normalised fields of the top-level header.
func fillInfo(info *Info, h *header) {
	info.Envelope = buildEnvelope(h)
	if v, ok := h.get("date"); ok {
		info.Date = parseDate(v)
	}
	if v, ok := h.get("subject"); ok {
		info.Subject = decodeWords(v)
	}
	info.From = displayList(info.Envelope.From)
	info.To = displayList(info.Envelope.To)
	if ids := msgIDs(info.Envelope.MessageID); len(ids) > 0 {
		info.MessageID = ids[0]
	}
	if ids := msgIDs(info.Envelope.InReplyTo); len(ids) > 0 {
		info.InReplyTo = ids[0]
	}
	if v, ok := h.get("references"); ok {
		info.References = msgIDs(v)
	}
}

// addressField parses an address-list header field (RFC 5322 3.4).
func addressField(h *header, name string) []Address {
	v, ok := h.get(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	return parseAddressList(v)
}

// parseAddressList parses an address list with net/mail (which handles group syntax,
// RFC 6532 UTF-8 and, through the decoder, RFC 2047 names in any charset). A list net/mail
// refuses is split and read item by item, keeping what can be read, as mail readers do.
func parseAddressList(v string) []Address {
	ap := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader}}
	if list, err := ap.ParseList(v); err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, splitAddress(a.Name, a.Address))
		}
		return out
	}
	var out []Address
	for _, item := range splitAddressItems(v) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if a, err := ap.Parse(item); err == nil {
			out = append(out, splitAddress(a.Name, a.Address))
			continue
		}
		out = append(out, looseAddress(item))
	}
	return out
}

// looseAddress reads `name <addr>` or a bare address without validating either.
func looseAddress(item string) Address {
	name, addr := "", item
	if i := strings.LastIndexByte(item, '<'); i >= 0 {
		name = strings.Trim(strings.TrimSpace(item[:i]), `"`)
		addr = item[i+1:]
		if j := strings.IndexByte(addr, '>'); j >= 0 {
			addr = addr[:j]
		}
	}
	return splitAddress(decodeWords(name), strings.TrimSpace(addr))
}

func splitAddress(name, addr string) Address {
	a := Address{Name: strings.ToValidUTF8(name, "\uFFFD"), Mailbox: addr}
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		a.Mailbox, a.Host = addr[:i], addr[i+1:]
	}
	return a
}

// splitAddressItems splits an address list at commas outside quotes, angle brackets and
// comments.
func splitAddressItems(s string) []string {
	var out []string
	quoted, escaped, angle, comment, start := false, false, 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			angle++
		case c == '>' && angle > 0:
			angle--
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case c == ',' && angle == 0 && comment == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// displayList formats addresses for display and SEARCH: `Name <a@b>, c@d`.
func displayList(list []Address) string {
	parts := make([]string, 0, len(list))
	for _, a := range list {
		addr := a.Mailbox
		if a.Host != "" {
			addr += "@" + a.Host
		}
		if a.Name != "" {
			addr = a.Name + " <" + addr + ">"
		}
		parts = append(parts, addr)
	}
	return strings.Join(parts, ", ")
}

// msgIDs returns the message ids in a Message-ID, In-Reply-To or References value, without
// angle brackets (RFC 5322 3.6.4). Values without brackets are split at white space.
func msgIDs(v string) []string {
	var ids []string
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '>')
		if j < 0 {
			break
		}
		if id := strings.TrimSpace(rest[i+1 : i+j]); id != "" {
			ids = append(ids, id)
		}
		rest = rest[i+j+1:]
	}
	if len(ids) == 0 {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
			ids = append(ids, strings.Trim(f, "<>"))
		}
	}
	return ids
}

// parseDate parses a Date header (RFC 5322 3.3, with the obsolete forms of 4.3);
// the zero time if it cannot be read.
func parseDate(v string) time.Time {
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '('); i > 0 {
		v = strings.TrimSpace(v[:i]) // trailing comment, "(CET)"
	}
	v = strings.Join(strings.Fields(v), " ")
	// Forms seen in the wild that net/mail refuses.
	layouts := [...]string{
		"Mon, 2 Jan 2006 15:04:05 -0700 MST",
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon, 2 Jan 2006 15:04 -0700",
		"2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 06 15:04:05 -0700",
		"Mon Jan 2 15:04:05 2006",
		"Mon Jan 2 15:04:05 MST 2006",
		time.RFC3339,
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// hasAttachment reports whether the tree holds a part a user would call an attachment:
// disposition attachment, a named part not marked inline, or an encapsulated message.
// Parts of a multipart/related after its root (RFC 2387: images an HTML body refers to)
// are attachments only when marked so.
func hasAttachment(p *Part) bool {
	if len(p.Children) > 0 {
		related := p.Subtype == "related"
		for i := range p.Children {
			c := &p.Children[i]
			if related && i > 0 && len(c.Children) == 0 {
				if c.Disposition == "attachment" {
					return true
				}
				continue
			}
			if hasAttachment(c) {
				return true
			}
		}
		return false
	}
	if p.Disposition == "attachment" || p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") {
		return true
	}
	named := p.DispositionParams["filename"] != "" || p.Params["name"] != ""
	return named && p.Disposition != "inline"
}
