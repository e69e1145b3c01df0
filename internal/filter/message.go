package filter

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"mailgrid/internal/message"
	"mailgrid/internal/message/body"
)

// Message is the message of a Mail as a view: the body as received, minus the header
// fields mailets removed, below the fields they added. Nothing is copied: Body composes
// the view (package body), so header edits cost the size of the edited fields whatever
// the size of the message.
type Message struct {
	orig    body.Body
	fields  []body.Field // orig's header fields, scanned on first need
	scanned bool
	strip   []body.Span  // fields of orig removed
	added   []addedField // fields added, oldest first; the newest is on top
	edits   int
}

type addedField struct {
	name string
	raw  []byte // "Name: value\r\n", folded
}

// NewMessage returns a view of b with no edits.
func NewMessage(b body.Body) *Message { return &Message{orig: b} }

// Body returns the message as it now reads.
func (m *Message) Body() body.Body {
	if len(m.added) == 0 && len(m.strip) == 0 {
		return m.orig
	}
	var prefix []byte
	for _, f := range slices.Backward(m.added) {
		prefix = append(prefix, f.raw...)
	}
	return body.Concat(body.Bytes(prefix), body.Strip(m.orig, m.strip))
}

// Size is the size of Body.
func (m *Message) Size() int64 { return m.Body().Size() }

// Clone returns an independent view over the same body with the same edits (the
// per-account copy at StageLocal starts as a clone of the StageData message).
func (m *Message) Clone() *Message {
	c := *m
	c.strip = slices.Clip(m.strip)
	c.added = slices.Clip(m.added)
	return &c
}

// Edits counts the edits made to m (and, for a clone, to the message it was cloned
// from): two views with equal counts, one a clone of the other, read alike.
func (m *Message) Edits() int { return m.edits }

// AddHeader puts the field "name: value" on top of the header, as trace and result
// fields are added (RFC 5321 4.4, RFC 8601 5). Long values are folded; CR and LF in value
// become spaces (no header injection). A name that is not a field name (RFC 5322 3.6.8)
// is an error.
func (m *Message) AddHeader(name, value string) error {
	if !validName(name) {
		return fmt.Errorf("filter: invalid header field name %q", name)
	}
	m.added = append(m.added, addedField{name: name, raw: message.AppendField(nil, name, value)})
	m.edits++
	return nil
}

// AddRaw puts a complete field (folded, ending in CRLF) on top of the header, for fields
// composed elsewhere (mailauth's Authentication-Results).
func (m *Message) AddRaw(field string) error {
	name, _, ok := strings.Cut(field, ":")
	if !ok || !validName(name) || !strings.HasSuffix(field, "\r\n") {
		return fmt.Errorf("filter: malformed header field %.40q", field)
	}
	if err := checkFolding(field); err != nil {
		return err
	}
	m.added = append(m.added, addedField{name: name, raw: []byte(field)})
	m.edits++
	return nil
}

// checkFolding refuses a raw field whose line breaks could end the header: every CRLF
// but the last must be followed by white space (RFC 5322 2.2.3).
func checkFolding(field string) error {
	body := strings.TrimSuffix(field, "\r\n")
	for i := strings.Index(body, "\n"); i >= 0; i = strings.Index(body, "\n") {
		if i == 0 || body[i-1] != '\r' || i+1 >= len(body) || (body[i+1] != ' ' && body[i+1] != '\t') {
			return errors.New("filter: header field with a bare or unfolded line break")
		}
		body = body[i+1:]
	}
	if strings.ContainsRune(body, '\r') {
		return errors.New("filter: header field with a bare CR")
	}
	return nil
}

// RemoveHeader removes every field named name (case-insensitive), added or original.
func (m *Message) RemoveHeader(name string) error {
	return m.RemoveFields(func(n, _ string) bool { return strings.EqualFold(n, name) })
}

// RemoveFields removes the fields, added or original, for which match(name, value)
// is true; value is unfolded and trimmed, as Header returns it.
func (m *Message) RemoveFields(match func(name, value string) bool) error {
	n := len(m.added)
	m.added = slices.DeleteFunc(slices.Clone(m.added), func(f addedField) bool {
		return match(f.name, unfold(f.raw[len(f.name)+1:]))
	})
	removed := n - len(m.added)
	fields, err := m.origFields()
	if err != nil {
		return err
	}
	for _, f := range fields {
		if slices.Contains(m.strip, f.Span) {
			continue
		}
		v, err := m.value(f)
		if err != nil {
			return err
		}
		if match(f.Name, v) {
			m.strip = append(slices.Clip(m.strip), f.Span)
			removed++
		}
	}
	if removed > 0 {
		m.edits++
	}
	return nil
}

// Header returns the values of the fields named name in the order they now read (added
// ones first, newest first), unfolded and trimmed, not RFC 2047 decoded.
func (m *Message) Header(name string) ([]string, error) {
	var out []string
	for _, f := range slices.Backward(m.added) {
		if strings.EqualFold(f.name, name) {
			out = append(out, unfold(f.raw[len(f.name)+1:]))
		}
	}
	fields, err := m.origFields()
	if err != nil {
		return nil, err
	}
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) && !slices.Contains(m.strip, f.Span) {
			v, err := m.value(f)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func (m *Message) origFields() ([]body.Field, error) {
	if !m.scanned {
		fs, err := body.Fields(m.orig)
		if err != nil {
			return nil, fmt.Errorf("filter: read header: %w", err)
		}
		m.fields, m.scanned = fs, true
	}
	return m.fields, nil
}

// maxFieldRead bounds how much of one original field value is read.
const maxFieldRead = 64 << 10

func (m *Message) value(f body.Field) (string, error) {
	n := min(f.Span.End-f.Span.Start, maxFieldRead)
	buf := make([]byte, n)
	if _, err := m.orig.ReadAt(buf, f.Span.Start); err != nil && err != io.EOF {
		return "", fmt.Errorf("filter: read header: %w", err)
	}
	_, v, _ := strings.Cut(string(buf), ":")
	return unfold([]byte(v)), nil
}

// unfold removes folding line breaks (RFC 5322 2.2.3) and surrounding white space.
func unfold(v []byte) string {
	s := strings.ReplaceAll(string(v), "\r\n", "")
	s = strings.ReplaceAll(s, "\n", "")
	return strings.TrimSpace(s)
}

// validName reports whether s is a field name: printable US-ASCII but colon (RFC 5322
// 3.6.8).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}
