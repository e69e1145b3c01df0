package message

import (
	"bytes"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// field is one header field: name in lower case, value unfolded (RFC 5322 2.2.3) and
// otherwise raw, as valid UTF-8.
type field struct{ name, value string }

// header is a parsed header: fields in order.
type header struct {
	fields    []field
	malformed bool // lines that are not fields, or truncated at MaxHeaderBytes
}

// get returns the first field named name (lower case).
func (h *header) get(name string) (string, bool) {
	for _, f := range h.fields {
		if f.name == name {
			return f.value, true
		}
	}
	return "", false
}

// parseHeader splits raw header lines into fields. Lines that are neither a field nor a
// continuation are skipped and mark the header malformed.
func parseHeader(raw []byte, truncated bool) *header {
	h := &header{malformed: truncated}
	var name string
	var value []byte
	flush := func() {
		if name != "" {
			h.fields = append(h.fields, field{name: name, value: toUTF8(bytes.TrimSpace(value))})
		}
		name, value = "", nil
	}
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if name == "" {
				h.malformed = true
				continue
			}
			value = append(value, line...) // RFC 5322 2.2.3: unfold by removing CRLF
			continue
		}
		flush()
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validFieldName(bytes.TrimRight(line[:colon], " \t")) {
			h.malformed = true
			continue
		}
		name = strings.ToLower(string(bytes.TrimRight(line[:colon], " \t")))
		value = append(value, line[colon+1:]...)
	}
	flush()
	return h
}

// validFieldName checks RFC 5322 2.2 ftext: printable US-ASCII except colon.
func validFieldName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// toUTF8 returns b as a string, reading bytes that are not UTF-8 as ISO-8859-1: raw 8-bit
// headers from before RFC 6532 are nearly always Latin-1 (or its superset windows-1252).
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			sb.WriteRune(rune(b[0]))
			n = 1
		} else {
			sb.WriteRune(r)
		}
		b = b[n:]
	}
	return sb.String()
}

// decodeWords decodes RFC 2047 encoded-words in any charset go-message/charset knows.
// A value that does not decode is returned as it is. Bytes the declared charset does not
// account for become U+FFFD, so the result is always valid UTF-8.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	dec := mime.WordDecoder{CharsetReader: charset.Reader}
	out, err := dec.DecodeHeader(s)
	if err != nil {
		return s
	}
	return strings.ToValidUTF8(out, "\uFFFD")
}

// applyMIME fills a part's MIME fields from its header (RFC 2045, RFC 2183, RFC 3282,
// RFC 2557). def is the type when Content-Type is absent.
func (p *parser) applyMIME(part *Part, h *header, def mediaType) {
	part.Type, part.Subtype = def.typ, def.sub
	if def == defaultType {
		part.Params = map[string]string{"charset": "us-ascii"} // RFC 2045 5.2
	}
	if v, ok := h.get("content-type"); ok {
		mt, params, ok := parseParams(v)
		typ, sub, found := strings.Cut(mt, "/")
		if ok && found && typ != "" && sub != "" {
			part.Type, part.Subtype, part.Params = typ, sub, params
		} else {
			// RFC 2045 5.2: an invalid Content-Type means text/plain; charset=us-ascii.
			p.malformed = true
			part.Type, part.Subtype = defaultType.typ, defaultType.sub
			part.Params = map[string]string{"charset": "us-ascii"}
		}
	}
	part.Encoding = "7bit" // RFC 2045 6.1
	if v, ok := h.get("content-transfer-encoding"); ok {
		if tok := strings.Fields(strings.ToLower(v)); len(tok) > 0 {
			part.Encoding = tok[0]
		}
	}
	part.ID, _ = h.get("content-id")
	part.Description, _ = h.get("content-description")
	part.MD5, _ = h.get("content-md5")
	part.Location, _ = h.get("content-location")
	if v, ok := h.get("content-disposition"); ok {
		if d, params, ok := parseParams(v); ok {
			part.Disposition, part.DispositionParams = d, params
		} else {
			p.malformed = true
		}
	}
	if v, ok := h.get("content-language"); ok {
		for _, l := range strings.Split(v, ",") {
			if l = strings.TrimSpace(l); l != "" {
				part.Language = append(part.Language, l)
			}
		}
	}
}

// parseParams parses "value; name=param; ..." (Content-Type, Content-Disposition) with
// RFC 2231 continuations and charsets. Parameters that mime.ParseMediaType refuses are
// read leniently, as every mail client does; values are also RFC 2047 decoded (not
// standard, but widely sent for file names).
func parseParams(s string) (string, map[string]string, bool) {
	mt, params, err := mime.ParseMediaType(s)
	if mt == "" {
		return "", nil, false
	}
	if err != nil {
		params = looseParams(s)
	}
	for k, v := range params {
		if k != "boundary" { // a boundary is matched byte for byte, never decoded
			params[k] = decodeWords(v)
		}
	}
	if len(params) == 0 {
		params = nil
	}
	return mt, params, true
}

// looseParams reads name=value pairs after the first ';', tolerating bad quoting and
// characters mime.ParseMediaType refuses.
func looseParams(s string) map[string]string {
	params := map[string]string{}
	_, rest, _ := strings.Cut(s, ";")
	for _, item := range splitOutsideQuotes(rest, ';') {
		k, v, ok := strings.Cut(item, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.ReplaceAll(v[1:len(v)-1], `\"`, `"`)
		}
		if _, dup := params[k]; !dup {
			params[k] = v
		}
	}
	return params
}

// splitOutsideQuotes splits s at sep where sep is not inside a quoted string.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
