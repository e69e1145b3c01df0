package imapserver

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"sort"
	"strings"

	"mailgrid/internal/message"
)

// maxHeaderRead bounds the header bytes read into memory for HEADER.FIELDS.
const maxHeaderRead = 4 << 20

// sectionRange returns the byte range of a section in the raw message (RFC 9051 6.4.5),
// from the part offsets cached at delivery. ok is false for a part that does not exist.
func sectionRange(info *message.Info, sec section) (start, end int64, ok bool) {
	if len(sec.part) == 0 {
		switch sec.text {
		case "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			return 0, info.HeaderSize, true
		case "TEXT":
			return info.HeaderSize, info.Size, true
		}
		return 0, info.Size, true
	}
	p, found := info.Structure.Find(sec.part...)
	if !found {
		return 0, 0, false
	}
	switch sec.text {
	case "":
		return p.BodyStart, p.End, true
	case "MIME":
		return p.HeaderStart, p.BodyStart, true
	}
	if p.Message == nil { // HEADER and TEXT of a part name an encapsulated message's
		return 0, 0, false
	}
	if sec.text == "TEXT" {
		return p.Message.BodyStart, p.End, true
	}
	return p.Message.HeaderStart, p.Message.BodyStart, true
}

// sectionReader returns a section's content and size, streamed from the blob except for
// HEADER.FIELDS, which filters the header in memory.
func (s *session) sectionReader(f *fetchMsg, sec section) (io.Reader, int64, error) {
	start, end, ok := sectionRange(f.info, sec)
	if !ok || end < start || end > f.blob.Size() {
		return strings.NewReader(""), 0, nil
	}
	r := io.NewSectionReader(f.blob, start, end-start)
	if sec.text != "HEADER.FIELDS" && sec.text != "HEADER.FIELDS.NOT" {
		return r, end - start, nil
	}
	hdr := make([]byte, min(end-start, maxHeaderRead))
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, 0, err
	}
	out := filterHeader(hdr, sec.fields, sec.text == "HEADER.FIELDS.NOT")
	return bytes.NewReader(out), int64(len(out)), nil
}

// filterHeader keeps (or, with not, drops) the fields named in names, in their order in
// the header, followed by the empty line (RFC 9051 6.4.5 HEADER.FIELDS).
func filterHeader(hdr []byte, names []string, not bool) []byte {
	var out []byte
	keep := false
	for len(hdr) > 0 {
		i := bytes.IndexByte(hdr, '\n')
		line := hdr
		if i >= 0 {
			line, hdr = hdr[:i+1], hdr[i+1:]
		} else {
			hdr = nil
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // end of header
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			name = bytes.TrimSpace(name)
			in := false
			for _, n := range names {
				if strings.EqualFold(n, string(name)) {
					in = true
					break
				}
			}
			keep = in != not
		}
		if keep {
			out = append(out, line...)
		}
	}
	return append(out, '\r', '\n')
}

// binaryPart returns the decoder source of BINARY[part] (RFC 3516 4.2): the part body
// with its Content-Transfer-Encoding undone. The whole message (no part) is sent as is.
func binarySource(f *fetchMsg, sec section) (func() io.Reader, *respError) {
	if len(sec.part) == 0 {
		return func() io.Reader { return io.NewSectionReader(f.blob, 0, f.blob.Size()) }, nil
	}
	p, ok := f.info.Structure.Find(sec.part...)
	if !ok || p.End < p.BodyStart || p.End > f.blob.Size() {
		return func() io.Reader { return strings.NewReader("") }, nil
	}
	body := func() *io.SectionReader { return io.NewSectionReader(f.blob, p.BodyStart, p.End-p.BodyStart) }
	switch strings.ToLower(p.Encoding) {
	case "", "7bit", "8bit", "binary":
		return func() io.Reader { return body() }, nil
	case "base64":
		return func() io.Reader { return base64.NewDecoder(base64.StdEncoding, body()) }, nil
	case "quoted-printable":
		return func() io.Reader { return quotedprintable.NewReader(body()) }, nil
	}
	return nil, no(codeUnknownCTE, "unknown Content-Transfer-Encoding %s", truncate(p.Encoding, 40))
}

// codeUnknownCTE is RFC 3516 4.3's response code.
const codeUnknownCTE = "UNKNOWN-CTE"

// unknownCTE is the NO [UNKNOWN-CTE] of a BINARY or BINARY.SIZE item of atts whose part
// has a Content-Transfer-Encoding the server cannot undo (RFC 3516 4.3), or nil.
func unknownCTE(f *fetchMsg, atts []fetchAtt) *respError {
	for _, a := range atts {
		if a.name != "BINARY" && a.name != "BINARY.SIZE" {
			continue
		}
		if _, rerr := binarySource(f, *a.section); rerr != nil {
			return rerr
		}
	}
	return nil
}

// decodedSize counts a decoder's output and notes NUL bytes (which need literal8). A
// decoding error ends the content there, the same in both passes.
func decodedSize(r io.Reader) (int64, bool) {
	var n int64
	hasNUL := false
	buf := make([]byte, 32<<10)
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if !hasNUL && bytes.IndexByte(buf[:k], 0) >= 0 {
			hasNUL = true
		}
		if err != nil {
			return n, hasNUL
		}
	}
}

// writeBinary writes BINARY[part]<origin> or BINARY.SIZE[part] (RFC 3516 4.2, 4.3).
func (s *session) writeBinary(f *fetchMsg, a fetchAtt) error {
	src, rerr := binarySource(f, *a.section)
	if rerr != nil {
		s.w.raw(a.name + "[" + a.section.String() + "] NIL")
		return nil
	}
	size, hasNUL := decodedSize(src())
	if a.name == "BINARY.SIZE" {
		s.w.printf("BINARY.SIZE[%s] %d", a.section.String(), size)
		return nil
	}
	s.w.raw("BINARY[" + a.section.String() + "]")
	r, n := applyPartial(s, src(), size, a.partial)
	s.w.literal(r, n, hasNUL)
	return nil
}

// writeEnvelope writes an ENVELOPE (RFC 9051 7.5.2).
func (s *session) writeEnvelope(e *message.Envelope) {
	s.w.byte('(')
	s.w.nstr(e.Date)
	s.w.byte(' ')
	s.w.nstr(e.Subject)
	for _, l := range [][]message.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		s.w.byte(' ')
		s.writeAddresses(l)
	}
	s.w.byte(' ')
	s.w.nstr(e.InReplyTo)
	s.w.byte(' ')
	s.w.nstr(e.MessageID)
	s.w.byte(')')
}

func (s *session) writeAddresses(l []message.Address) {
	if len(l) == 0 {
		s.w.raw("NIL")
		return
	}
	s.w.byte('(')
	for _, a := range l {
		name := a.Name
		if !s.w.utf8 && !isASCII(name) {
			name = mime.QEncoding.Encode("utf-8", name) // RFC 2047 for clients without UTF-8
		}
		s.w.byte('(')
		s.w.nstr(name)
		s.w.raw(" NIL ")
		s.w.nstr(a.Mailbox)
		s.w.byte(' ')
		s.w.nstr(a.Host)
		s.w.byte(')')
	}
	s.w.byte(')')
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// writeBodyStructure writes BODYSTRUCTURE (ext) or BODY (RFC 9051 7.5.2, 9 body).
func (s *session) writeBodyStructure(p *message.Part, ext bool, depth int) {
	s.w.byte('(')
	if p.IsMultipart() && depth < message.MaxDepth {
		for i := range p.Children {
			s.writeBodyStructure(&p.Children[i], ext, depth+1)
		}
		s.w.byte(' ')
		s.w.str(p.Subtype)
		if ext {
			s.w.byte(' ')
			s.writeParams(p.Params)
			s.writeExtTail(p)
		}
		s.w.byte(')')
		return
	}
	s.w.str(p.Type)
	s.w.byte(' ')
	s.w.str(p.Subtype)
	s.w.byte(' ')
	s.writeParams(p.Params)
	s.w.byte(' ')
	s.w.nstr(p.ID)
	s.w.byte(' ')
	s.w.nstr(p.Description)
	s.w.byte(' ')
	s.w.str(orDefault(p.Encoding, "7bit"))
	s.w.printf(" %d", p.Size)
	switch {
	case p.Message != nil && p.Envelope != nil && depth < message.MaxDepth:
		s.w.byte(' ')
		s.writeEnvelope(p.Envelope)
		s.w.byte(' ')
		s.writeBodyStructure(p.Message, ext, depth+1)
		s.w.printf(" %d", p.Lines)
	case p.Type == "text":
		s.w.printf(" %d", p.Lines)
	}
	if ext {
		s.w.byte(' ')
		s.w.nstr(p.MD5)
		s.writeExtTail(p)
	}
	s.w.byte(')')
}

// writeExtTail writes body-fld-dsp, body-fld-lang and body-fld-loc.
func (s *session) writeExtTail(p *message.Part) {
	s.w.byte(' ')
	if p.Disposition == "" {
		s.w.raw("NIL")
	} else {
		s.w.byte('(')
		s.w.str(p.Disposition)
		s.w.byte(' ')
		s.writeParams(p.DispositionParams)
		s.w.byte(')')
	}
	s.w.byte(' ')
	switch len(p.Language) {
	case 0:
		s.w.raw("NIL")
	default:
		s.w.byte('(')
		for i, l := range p.Language {
			if i > 0 {
				s.w.byte(' ')
			}
			s.w.str(l)
		}
		s.w.byte(')')
	}
	s.w.byte(' ')
	s.w.nstr(p.Location)
}

// writeParams writes a parameter list sorted by name, or NIL.
func (s *session) writeParams(params map[string]string) {
	if len(params) == 0 {
		s.w.raw("NIL")
		return
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.w.byte('(')
	for i, k := range keys {
		if i > 0 {
			s.w.byte(' ')
		}
		s.w.str(k)
		s.w.byte(' ')
		s.w.str(params[k])
	}
	s.w.byte(')')
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
