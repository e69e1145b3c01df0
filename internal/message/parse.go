package message

import (
	"fmt"
	"io"
)

// Parse reads the message of size octets from r in one streaming pass and returns its
// Info. Malformed input never fails (see the package doc); the only errors are read
// errors from r.
func Parse(r io.ReaderAt, size int64) (*Info, error) {
	if size < 0 {
		return nil, fmt.Errorf("message: negative size %d", size)
	}
	p := &parser{s: newScanner(r, size)}
	root, fields, _ := p.part(0, 0, defaultType)
	if p.s.err != nil {
		return nil, fmt.Errorf("message: read: %w", p.s.err)
	}
	if p.s.off != size {
		// The reader ended early: report it as the read error it is.
		return nil, fmt.Errorf("message: read: %w at %d of %d", io.ErrUnexpectedEOF, p.s.off, size)
	}
	info := &Info{
		Structure:  root,
		HeaderSize: root.BodyStart,
		Size:       size,
		Malformed:  p.malformed || fields.malformed,
	}
	fillInfo(info, fields)
	info.HasAttachment = hasAttachment(&info.Structure)
	return info, nil
}

// parser walks the MIME tree. bounds is the stack of active multipart boundaries,
// outermost first; a delimiter of any of them ends the parts inside it.
type parser struct {
	s         *scanner
	bounds    []string
	parts     int
	malformed bool
}

type mediaType struct{ typ, sub string }

var (
	defaultType = mediaType{"text", "plain"}     // RFC 2045 5.2
	digestType  = mediaType{"message", "rfc822"} // RFC 2046 5.1.5
)

// part parses one entity starting at start (its header) and returns it with its header
// fields and the mark where it ended (a delimiter of an enclosing multipart, or EOF).
func (p *parser) part(start int64, depth int, def mediaType) (Part, *header, mark) {
	p.parts++
	h, bodyStart, cut := p.readHeader(start)
	part := Part{HeaderStart: start, BodyStart: bodyStart}
	p.applyMIME(&part, h, def)
	if cut != nil {
		// The header never ended: the part has no body. At EOF that is legal (RFC 5322
		// 3.5: the body is optional); cut by a delimiter it is not.
		p.malformed = p.malformed || !cut.eof
		if part.Type == "multipart" {
			p.malformed = true
			p.asText(&part)
		}
		p.finish(&part, cut, p.s.lfs)
		return part, h, *cut
	}
	bodyLFs := p.s.lfs
	var m mark
	switch {
	case part.Type == "multipart":
		m = p.multipart(&part, depth)
	case isMessageType(part) && depth+1 < MaxDepth && p.parts < MaxParts:
		m = p.message(&part, depth)
	default:
		m = p.skipBody()
	}
	p.finish(&part, &m, bodyLFs)
	return part, h, m
}

// finish sets the body's end, size and line count from the mark where it ended. A
// delimiter right after the empty line ending the header claims that line's CRLF
// (RFC 2046 5.1.1); the body is then empty and the mark moves to the body's start, so an
// enclosing message part ends where its message does.
func (p *parser) finish(part *Part, m *mark, bodyLFs int64) {
	if m.end <= part.BodyStart {
		m.end, m.lfs, m.partial = part.BodyStart, bodyLFs, false
		part.End = part.BodyStart
		return
	}
	part.End = m.end
	part.Size = part.End - part.BodyStart
	// RFC 9051 7.5.2: body-fld-lines for TEXT and MESSAGE/RFC822 (and GLOBAL).
	if part.Type == "text" || part.Type == "message" && (part.Subtype == "rfc822" || part.Subtype == "global") {
		part.Lines = m.lfs - bodyLFs
		if m.partial {
			part.Lines++
		}
	}
}

func isMessageType(p Part) bool {
	if p.Type != "message" || (p.Subtype != "rfc822" && p.Subtype != "global") {
		return false
	}
	// An encoded message cannot be parsed in place; it stays an opaque part.
	switch p.Encoding {
	case "7bit", "8bit", "binary":
		return true
	}
	return false
}

// multipart parses the body of a multipart part: preamble, children, epilogue
// (RFC 2046 5.1.1). A multipart with no usable boundary or without any child becomes a
// text/plain part over its body.
func (p *parser) multipart(part *Part, depth int) mark {
	boundary := part.Params["boundary"]
	if boundary == "" || len(boundary) > 200 || depth+1 >= MaxDepth || p.parts >= MaxParts {
		p.malformed = true
		p.asText(part)
		return p.skipBody()
	}
	p.bounds = append(p.bounds, boundary)
	level := len(p.bounds) - 1
	defer func() { p.bounds = p.bounds[:level] }()
	childDef := defaultType
	if part.Subtype == "digest" {
		childDef = digestType
	}
	m := p.skipBody() // preamble
	for !m.eof && m.level == level && !m.closing {
		if p.parts >= MaxParts {
			p.malformed = true
			m = p.skipBody()
			continue
		}
		var child Part
		child, _, m = p.part(p.s.off, depth+1, childDef)
		part.Children = append(part.Children, child)
	}
	if len(part.Children) == 0 {
		p.malformed = true
		p.asText(part)
	}
	if m.eof || m.level < level {
		// RFC 2046 5.1.1 requires the close delimiter; it is missing.
		p.malformed = true
		return m
	}
	p.bounds = p.bounds[:level]
	return p.skipBody() // epilogue, up to the enclosing delimiter or EOF
}

// asText turns a part into the text/plain fallback for content that cannot be parsed.
func (p *parser) asText(part *Part) {
	part.Type, part.Subtype = defaultType.typ, defaultType.sub
	part.Params = map[string]string{"charset": "us-ascii"}
	part.Children = nil
}

// message parses an encapsulated message (RFC 2046 5.2.1).
func (p *parser) message(part *Part, depth int) mark {
	inner, h, m := p.part(part.BodyStart, depth+1, defaultType)
	env := buildEnvelope(h)
	part.Envelope = &env
	part.Message = &inner
	return m
}

// skipBody reads body lines until a delimiter of an active boundary or EOF.
func (p *parser) skipBody() mark {
	for {
		f, ok := p.s.next()
		if !ok {
			return p.s.eofMark()
		}
		if m, ok := p.delimiter(f); ok {
			return m
		}
	}
}

// delimiter reports whether f is a delimiter line of an active boundary, innermost first.
func (p *parser) delimiter(f fragment) (mark, bool) {
	if !f.bol || len(p.bounds) == 0 || len(f.data) < 3 || f.data[0] != '-' || f.data[1] != '-' {
		return mark{}, false
	}
	for i := len(p.bounds) - 1; i >= 0; i-- {
		if match, closing := isDelimiter(f.data, p.bounds[i]); match {
			return delimiterMark(f, i, closing), true
		}
	}
	return mark{}, false
}

// readHeader reads header lines up to and including the empty line that ends them and
// returns the parsed fields and the body's start. A header interrupted by a delimiter or
// by EOF returns the mark where it was cut; the body is then empty.
func (p *parser) readHeader(start int64) (*header, int64, *mark) {
	var raw []byte
	truncated := false
	for {
		f, ok := p.s.next()
		if !ok {
			m := p.s.eofMark()
			return parseHeader(raw, truncated), m.end, &m
		}
		if m, ok := p.delimiter(f); ok {
			m.end = max(m.end, start)
			return parseHeader(raw, truncated), m.end, &m
		}
		if f.bol && isBlankLine(f.data) {
			return parseHeader(raw, truncated), p.s.off, nil
		}
		if len(raw)+len(f.data) > MaxHeaderBytes {
			truncated = true
			continue
		}
		raw = append(raw, f.data...)
	}
}

func isBlankLine(b []byte) bool {
	return len(b) == 1 && b[0] == '\n' || len(b) == 2 && b[0] == '\r' && b[1] == '\n'
}
