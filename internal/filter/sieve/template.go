package sieve

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// strExpr is a string argument. Without the variables extension, or without "${" in
// it, it is the constant lit; otherwise parts is the pre-parsed template that Run
// expands (RFC 5229 3).
type strExpr struct {
	pos   Position
	lit   string
	parts []tmplPart
}

type strList []strExpr

func (s strExpr) constant() bool { return s.parts == nil }

type tmplKind uint8

const (
	tmplLit   tmplKind = iota
	tmplVar            // a variable set with "set"
	tmplMatch          // a match variable ${N}
)

type tmplPart struct {
	kind tmplKind
	lit  string
	idx  int
}

// maxMatchVars is the number of match variables kept: ${0} to ${9} (RFC 5229 3.2
// requires at least these).
const maxMatchVars = 10

// template parses s for variable references (RFC 5229 3):
//
//	variable-ref  = "${" [namespace] variable-name "}"
//	namespace     = identifier "."
//	variable-name = num-variable / identifier
//
// A "${" that does not start a well-formed reference is literal text. References to a
// namespace are an error: no namespace extension is supported.
func (c *compiler) template(s string, pos Position) (strExpr, error) {
	if !c.required["variables"] || !strings.Contains(s, "${") {
		return strExpr{pos: pos, lit: s}, nil
	}
	var parts []tmplPart
	lit := 0
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			break
		}
		start := i + j
		end := strings.IndexByte(s[start+2:], '}')
		if end < 0 {
			break
		}
		name := s[start+2 : start+2+end]
		kind, idx, ok, err := c.reference(name, pos)
		if err != nil {
			return strExpr{}, err
		}
		if !ok {
			i = start + 2
			continue
		}
		if start > lit {
			parts = append(parts, tmplPart{kind: tmplLit, lit: s[lit:start]})
		}
		parts = append(parts, tmplPart{kind: kind, idx: idx})
		i = start + 2 + end + 1
		lit = i
	}
	if parts == nil {
		return strExpr{pos: pos, lit: s}, nil
	}
	if lit < len(s) {
		parts = append(parts, tmplPart{kind: tmplLit, lit: s[lit:]})
	}
	return strExpr{pos: pos, parts: parts}, nil
}

// reference resolves the name inside "${...}"; ok is false when it is not a
// well-formed reference (the text then stays literal).
func (c *compiler) reference(name string, pos Position) (tmplKind, int, bool, error) {
	if name == "" {
		return 0, 0, false, nil
	}
	if isDigits(name) {
		n := maxMatchVars // past the last match variable: always ""
		if t := strings.TrimLeft(name, "0"); t == "" {
			n = 0
		} else if len(t) <= 2 {
			n, _ = strconv.Atoi(t) // one or two digits always parse
		}
		return tmplMatch, n, true, nil
	}
	segs := strings.Split(name, ".")
	for _, s := range segs {
		if !isIdentifier(s) {
			return 0, 0, false, nil
		}
	}
	if len(segs) > 1 {
		// RFC 5229 3: a namespace without the extension defining it is an error.
		return 0, 0, false, errorf(pos, "unknown variable namespace %q", segs[0])
	}
	idx, err := c.variable(name, pos)
	return tmplVar, idx, err == nil, err
}

// variable returns the slot of a variable, allocating it on first use. Names are
// case-insensitive (RFC 5229 3).
func (c *compiler) variable(name string, pos Position) (int, error) {
	key := strings.ToLower(name)
	if i, ok := c.vars[key]; ok {
		return i, nil
	}
	if len(c.vars) >= c.lim.MaxVariables {
		return 0, errorf(pos, "more than %d variables", c.lim.MaxVariables)
	}
	c.vars[key] = len(c.vars)
	return c.vars[key], nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isIdentifier(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

// expand returns the value of s with variables substituted, truncated to
// MaxStringBytes at a character boundary (RFC 5229 6 lets implementations limit it).
func (m *machine) expand(s strExpr) string {
	if s.constant() {
		return s.lit
	}
	var b strings.Builder
	for _, p := range s.parts {
		switch p.kind {
		case tmplLit:
			b.WriteString(p.lit)
		case tmplVar:
			b.WriteString(m.vars[p.idx])
		case tmplMatch:
			if p.idx < len(m.matchVars) {
				b.WriteString(m.matchVars[p.idx])
			}
		}
		if b.Len() > m.lim.MaxStringBytes {
			break
		}
	}
	return truncate(b.String(), m.lim.MaxStringBytes)
}

func (m *machine) expandList(l strList) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = m.expand(s)
	}
	return out
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// decodeEncoded applies RFC 5228 2.4.2.4 (encoded-character) to a string:
// "${hex: 40 41}" is "@A", "${unicode: 263A}" is "☺". A malformed sequence stays as
// written; a code point outside Unicode scalar values is an error.
func decodeEncoded(s string, pos Position) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexByte(s, '}')
		colon := strings.IndexByte(s, ':')
		if end < 0 || colon < 0 || colon > end {
			b.WriteString("${")
			s = s[2:]
			continue
		}
		kind, body := strings.ToLower(s[2:colon]), s[colon+1:end]
		out, ok, err := decodeSeq(kind, body, pos)
		if err != nil {
			return "", err
		}
		if !ok {
			b.WriteString("${")
			s = s[2:]
			continue
		}
		b.WriteString(out)
		s = s[end+1:]
	}
}

// decodeSeq decodes the inside of "${hex:...}" or "${unicode:...}": hex digit groups
// separated by blanks (SP, HTAB, CRLF).
func decodeSeq(kind, body string, pos Position) (string, bool, error) {
	if kind != "hex" && kind != "unicode" {
		return "", false, nil
	}
	fields := strings.FieldsFunc(body, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
	if len(fields) == 0 {
		return "", false, nil
	}
	var b strings.Builder
	for _, f := range fields {
		if kind == "hex" && len(f) > 2 {
			return "", false, nil
		}
		digits := strings.TrimLeft(f, "0")
		if len(digits) > 8 {
			if kind == "unicode" && isHex(f) {
				return "", false, errorf(pos, "encoded character %q is not a Unicode scalar value", f)
			}
			return "", false, nil
		}
		v, err := strconv.ParseUint(f, 16, 64)
		if err != nil {
			return "", false, nil
		}
		if kind == "hex" {
			b.WriteByte(byte(v))
			continue
		}
		// RFC 5228 2.4.2.4: values outside 0-D7FF and E000-10FFFF are an error.
		if v > unicode.MaxRune || v >= 0xD800 && v <= 0xDFFF {
			return "", false, errorf(pos, "encoded character %q is not a Unicode scalar value", f)
		}
		b.WriteRune(rune(v))
	}
	return b.String(), true, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// modifier is a "set" modifier (RFC 5229 4.1); precedence orders their application.
type modifier uint8

const (
	modLower modifier = iota + 1
	modUpper
	modLowerFirst
	modUpperFirst
	modQuoteWildcard
	modLength
)

func modifierByName(tag string) (modifier, bool) {
	switch tag {
	case "lower":
		return modLower, true
	case "upper":
		return modUpper, true
	case "lowerfirst":
		return modLowerFirst, true
	case "upperfirst":
		return modUpperFirst, true
	case "quotewildcard":
		return modQuoteWildcard, true
	case "length":
		return modLength, true
	}
	return 0, false
}

// precedence per RFC 5229 4.1: 40 :lower/:upper, 30 :lowerfirst/:upperfirst,
// 20 :quotewildcard, 10 :length; higher first, one of each level.
func (m modifier) precedence() int {
	switch m {
	case modLower, modUpper:
		return 40
	case modLowerFirst, modUpperFirst:
		return 30
	case modQuoteWildcard:
		return 20
	default:
		return 10
	}
}

func (m modifier) apply(s string) string {
	switch m {
	case modLower:
		return strings.ToLower(s)
	case modUpper:
		return strings.ToUpper(s)
	case modLowerFirst, modUpperFirst:
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 {
			return s
		}
		if m == modLowerFirst {
			return string(unicode.ToLower(r)) + s[n:]
		}
		return string(unicode.ToUpper(r)) + s[n:]
	case modQuoteWildcard:
		var b strings.Builder
		for _, r := range s {
			if r == '*' || r == '?' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String()
	default: // modLength counts characters, not octets
		return strconv.Itoa(utf8.RuneCountInString(s))
	}
}
