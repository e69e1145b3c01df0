package imapserver

import (
	"strconv"
	"strings"
)

// section is a body section specification (RFC 9051 6.4.5, 9 section-spec).
type section struct {
	part   []int    // "1.2.3"; empty for the whole message
	text   string   // "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"
	fields []string // HEADER.FIELDS names, as requested
}

// String formats the section as the response names it: "1.2.HEADER.FIELDS (FROM)".
func (sec section) String() string {
	var b strings.Builder
	for i, n := range sec.part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if sec.text != "" {
		if len(sec.part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(sec.text)
	}
	if len(sec.fields) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(sec.fields, " "))
		b.WriteByte(')')
	}
	return b.String()
}

// fetchAtt is one requested FETCH item.
type fetchAtt struct {
	name    string // FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY MODSEQ
	section *section
	peek    bool
	partial *[2]int64 // origin, length
	// BODY[...] / BINARY[...] / BINARY.SIZE[...] have name "BODY", "BINARY", "BINARY.SIZE";
	// RFC822, RFC822.HEADER, RFC822.TEXT keep their names.
}

// setsSeen reports whether fetching a sets \Seen (RFC 9051 6.4.5).
func (a fetchAtt) setsSeen() bool {
	switch a.name {
	case "BODY", "BINARY":
		return a.section != nil && !a.peek
	case "RFC822", "RFC822.TEXT":
		return true
	}
	return false
}

// fetchMods are FETCH modifiers (RFC 7162 3.1.4, 3.2.6).
type fetchMods struct {
	changedSince uint64
	hasChanged   bool
	vanished     bool
}

// fetchAtts parses the items of FETCH.
func (s *session) fetchAtts() ([]fetchAtt, error) {
	p := s.p
	if p.peek() == '(' {
		var atts []fetchAtt
		err := p.list(func() error {
			a, err := s.fetchAtt()
			atts = append(atts, a...)
			return err
		})
		if err == nil && len(atts) == 0 {
			err = bad("empty FETCH item list")
		}
		return atts, err
	}
	return s.fetchAtt()
}

func isFetchNameChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.'
}

func (s *session) fetchAtt() ([]fetchAtt, error) {
	p := s.p
	w, err := p.word(isFetchNameChar, "FETCH item")
	if err != nil {
		return nil, err
	}
	name := strings.ToUpper(w)
	simple := func(names ...string) []fetchAtt {
		out := make([]fetchAtt, len(names))
		for i, n := range names {
			out[i] = fetchAtt{name: n}
		}
		return out
	}
	switch name {
	case "ALL":
		return simple("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"), nil
	case "FAST":
		return simple("FLAGS", "INTERNALDATE", "RFC822.SIZE"), nil
	case "FULL":
		return simple("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"), nil
	case "FLAGS", "UID", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "MODSEQ",
		"RFC822", "RFC822.HEADER", "RFC822.TEXT":
		return simple(name), nil
	case "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE":
	default:
		return nil, bad("unknown FETCH item %s", truncate(w, 30))
	}
	if p.peek() != '[' {
		if name == "BODY" {
			return simple("BODY"), nil
		}
		return nil, bad("%s needs a section", name)
	}
	a := fetchAtt{name: strings.TrimSuffix(name, ".PEEK"), peek: strings.HasSuffix(name, ".PEEK")}
	sec, err := s.section(a.name != "BODY")
	if err != nil {
		return nil, err
	}
	a.section = &sec
	if p.peek() == '<' && a.name != "BINARY.SIZE" {
		if a.partial, err = s.partial(); err != nil {
			return nil, err
		}
	}
	return []fetchAtt{a}, nil
}

// section parses "[" section-spec "]"; binary sections are part numbers only
// (RFC 3516 section-binary).
func (s *session) section(binary bool) (section, error) {
	p := s.p
	var sec section
	if err := p.expect('['); err != nil {
		return sec, err
	}
	for p.peek() >= '0' && p.peek() <= '9' {
		n, err := p.nzNumber()
		if err != nil {
			return sec, err
		}
		if len(sec.part) >= 100 {
			return sec, bad("section too deep")
		}
		sec.part = append(sec.part, int(n))
		if !p.take('.') {
			break
		}
	}
	if !binary && p.peek() != ']' {
		w, err := p.word(func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '.' }, "section text")
		if err != nil {
			return sec, err
		}
		sec.text = strings.ToUpper(w)
		switch {
		case sec.text == "MIME" && len(sec.part) == 0:
			return sec, bad("MIME needs a part number")
		case sec.text == "HEADER", sec.text == "TEXT", sec.text == "MIME":
		case sec.text == "HEADER.FIELDS", sec.text == "HEADER.FIELDS.NOT":
			if err := p.sp(); err != nil {
				return sec, err
			}
			err := p.list(func() error {
				f, err := p.astring()
				sec.fields = append(sec.fields, strings.ToUpper(f))
				return err
			})
			if err != nil {
				return sec, err
			}
			if len(sec.fields) == 0 {
				return sec, bad("empty header list")
			}
		default:
			return sec, bad("unknown section %s", truncate(w, 30))
		}
	}
	return sec, p.expect(']')
}

// partial parses "<" number "." nz-number ">".
func (s *session) partial() (*[2]int64, error) {
	p := s.p
	if err := p.expect('<'); err != nil {
		return nil, err
	}
	off, err := p.number64()
	if err != nil {
		return nil, err
	}
	if err := p.expect('.'); err != nil {
		return nil, err
	}
	n, err := p.number64()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, bad("zero-length partial")
	}
	return &[2]int64{int64(off), int64(n)}, p.expect('>')
}

// fetchModifiers parses " (CHANGEDSINCE n [VANISHED])".
func (s *session) fetchModifiers(uid bool) (fetchMods, error) {
	var m fetchMods
	err := s.p.list(func() error {
		a, err := s.p.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "CHANGEDSINCE":
			if err := s.p.sp(); err != nil {
				return err
			}
			m.hasChanged = true
			m.changedSince, err = s.p.number64()
			return err
		case "VANISHED":
			if !uid || !s.enabled.qresync {
				return bad("VANISHED needs UID FETCH and QRESYNC") // RFC 7162 3.2.6
			}
			m.vanished = true
			return nil
		}
		return bad("unknown FETCH modifier %s", a)
	})
	if err == nil && m.vanished && !m.hasChanged {
		err = bad("VANISHED needs CHANGEDSINCE")
	}
	return m, err
}
