package sieve

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"mailgrid/internal/mail"
	"mailgrid/internal/message"
)

// Envelope is the SMTP envelope of the delivery a script runs for (RFC 5228 5.4).
type Envelope struct {
	From mail.Address // the reverse path; zero for the null sender "<>"
	To   mail.Address // the one recipient this delivery is for
}

// Message is the view of a message a script runs against. A run calls Header at most
// once per distinct name and never modifies what it returns; Body and Parts are called
// only by scripts that use the body test, and read up to Limits.MaxBodyBytes in all.
// A Message may serve concurrent runs if its methods are safe for that (NewMessage's
// are).
type Message interface {
	Envelope() Envelope
	// Header returns the values of every field named name (case-insensitive), in
	// message order, unfolded, RFC 2047 decoded to UTF-8, with surrounding white
	// space removed (RFC 5228 5.7).
	Header(name string) []string
	// Size is the message size in octets (RFC 5228 5.9).
	Size() int64
	// Body returns the body after the header, undecoded (RFC 5173 5.1 :raw).
	Body() (io.Reader, error)
	// Parts lists the MIME entities in depth-first order (RFC 5173 5.2 :content).
	Parts() ([]Part, error)
}

// Part is one MIME entity for the body test. Type and Subtype are lower case. Open
// returns its content with the transfer encoding removed and, for text, converted to
// UTF-8. For a multipart entity the content is empty (this implementation does not
// test prologues and epilogues); for message/rfc822 it is the encapsulated header
// (RFC 5173 5.2), whose parts follow as entities of their own.
type Part struct {
	Type, Subtype string
	Open          func() (io.Reader, error)
}

// rawMessage implements Message over a stored message: the parsed MIME tree from
// internal/message gives the byte ranges, and content is read from r on demand.
type rawMessage struct {
	r      io.ReaderAt
	info   *message.Info
	env    Envelope
	fields map[string][]string // by lower-case name, values in message order
}

// NewMessage returns a Message over the size octets of r. info is the message's parsed
// structure; nil parses it here (one streaming pass). Only the top-level header is
// held in memory; bodies are read when the body test asks for them.
func NewMessage(r io.ReaderAt, size int64, info *message.Info, env Envelope) (Message, error) {
	if info == nil {
		var err error
		if info, err = message.Parse(r, size); err != nil {
			return nil, fmt.Errorf("sieve: %w", err)
		}
	}
	hsize := min(info.HeaderSize, int64(message.MaxHeaderBytes))
	raw := make([]byte, hsize)
	if _, err := r.ReadAt(raw, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("sieve: read header: %w", err)
	}
	fields := map[string][]string{}
	for _, f := range parseFields(raw) {
		k := strings.ToLower(f.name)
		fields[k] = append(fields[k], f.value)
	}
	return &rawMessage{r: r, info: info, env: env, fields: fields}, nil
}

func (m *rawMessage) Envelope() Envelope { return m.env }
func (m *rawMessage) Size() int64        { return m.info.Size }

func (m *rawMessage) Header(name string) []string {
	return m.fields[strings.ToLower(name)]
}

func (m *rawMessage) Body() (io.Reader, error) {
	return io.NewSectionReader(m.r, m.info.HeaderSize, m.info.Size-m.info.HeaderSize), nil
}

func (m *rawMessage) Parts() ([]Part, error) {
	var out []Part
	m.walk(&m.info.Structure, &out)
	return out, nil
}

func (m *rawMessage) walk(p *message.Part, out *[]Part) {
	part := Part{Type: p.Type, Subtype: p.Subtype}
	switch {
	case p.IsMultipart():
		part.Open = func() (io.Reader, error) { return strings.NewReader(""), nil }
		*out = append(*out, part)
		for i := range p.Children {
			m.walk(&p.Children[i], out)
		}
	case p.IsMessage():
		inner := p.Message
		part.Open = func() (io.Reader, error) {
			return io.NewSectionReader(m.r, inner.HeaderStart, inner.BodyStart-inner.HeaderStart), nil
		}
		*out = append(*out, part)
		m.walk(inner, out)
	default:
		leaf := *p
		part.Open = func() (io.Reader, error) { return m.decoded(&leaf) }
		*out = append(*out, part)
	}
}

// decoded returns a leaf part's content without its transfer encoding (RFC 2045 6) and,
// for text, in UTF-8.
func (m *rawMessage) decoded(p *message.Part) (io.Reader, error) {
	var r io.Reader = io.NewSectionReader(m.r, p.BodyStart, p.End-p.BodyStart)
	switch p.Encoding {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Filter{r: r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	if p.Type != "text" {
		return r, nil
	}
	cs := strings.ToLower(p.Params["charset"])
	if cs == "" || cs == "utf-8" || cs == "us-ascii" || cs == "utf8" {
		return r, nil
	}
	cr, err := charset.Reader(cs, r)
	if err != nil {
		return r, nil // unknown charset: the octets as they are (RFC 2046 4.1.2)
	}
	return cr, nil
}

// base64Filter drops what RFC 2045 6.8 says decoders must ignore: characters outside
// the base64 alphabet (encoding/base64 skips only CR and LF).
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

type headerField struct{ name, value string }

// parseFields splits a raw header into unfolded (RFC 5322 2.2.3), decoded fields.
func parseFields(raw []byte) []headerField {
	var out []headerField
	var name string
	var value []byte
	flush := func() {
		if name != "" {
			out = append(out, headerField{name: name, value: decodeHeader(value)})
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
		if len(line) == 0 {
			break // the empty line ending the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name != "" {
				value = append(value, line...)
			}
			continue
		}
		flush()
		if colon := bytes.IndexByte(line, ':'); colon > 0 {
			name = string(bytes.TrimRight(line[:colon], " \t"))
			value = append(value, line[colon+1:]...)
		}
	}
	flush()
	return out
}

// decodeHeader returns a field value as UTF-8: RFC 2047 encoded-words decoded in any
// charset go-message/charset knows, raw 8-bit octets read as UTF-8 (RFC 6532) or else
// as Latin-1, and surrounding white space removed.
func decodeHeader(v []byte) string {
	s := string(bytes.TrimSpace(v))
	if !utf8.ValidString(s) {
		var b strings.Builder
		for _, c := range []byte(s) {
			b.WriteRune(rune(c))
		}
		s = b.String()
	}
	if strings.Contains(s, "=?") {
		dec := mime.WordDecoder{CharsetReader: charset.Reader}
		if d, err := dec.DecodeHeader(s); err == nil {
			s = strings.ToValidUTF8(d, "\uFFFD")
		}
	}
	return s
}
