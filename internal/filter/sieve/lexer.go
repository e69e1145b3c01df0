package sieve

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Position is a place in a script: 1-based line and column (columns count characters).
type Position struct {
	Line, Col int
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Error is a compile error (syntax or validation) or a runtime error, with the position
// of the construct that caused it. Positions are exact for lexical errors and name the
// start of the offending command, test or argument otherwise.
type Error struct {
	Pos     Position
	Msg     string
	Runtime bool // raised while running the script (RFC 5228 2.10.6), not while compiling
}

func (e *Error) Error() string {
	if e.Runtime {
		return fmt.Sprintf("sieve: runtime error at line %s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("sieve: line %s: %s", e.Pos, e.Msg)
}

func errorf(pos Position, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokIdent
	tokTag
	tokNumber
	tokString // quoted-string or multi-line
	tokPunct  // one of ; , [ ] ( ) { }
)

func (k tokenKind) String() string {
	switch k {
	case tokEOF:
		return "end of script"
	case tokIdent:
		return "identifier"
	case tokTag:
		return "tag"
	case tokNumber:
		return "number"
	case tokString:
		return "string"
	default:
		return "punctuation"
	}
}

type token struct {
	kind tokenKind
	pos  Position
	text string // identifier or tag name (lower case, without ':'), string value, or punctuation
	num  int64
}

func (t token) describe() string {
	switch t.kind {
	case tokIdent:
		return fmt.Sprintf("identifier %q", t.text)
	case tokTag:
		return fmt.Sprintf("tag :%s", t.text)
	case tokPunct:
		return fmt.Sprintf("%q", t.text)
	default:
		return t.kind.String()
	}
}

// lexer splits a script into tokens (RFC 5228 8.1). It works on the whole script in
// memory: scripts are small and bounded by Limits.MaxScriptBytes before lexing starts.
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Position { return Position{l.line, l.col} }

// advance moves over n bytes that contain no newline except possibly as the last byte.
func (l *lexer) advance(n int) {
	for i := 0; i < n; {
		r, size := utf8.DecodeRuneInString(l.src[l.off+i:])
		if r == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		i += size
	}
	l.off += n
}

// next returns the next token, skipping white space and comments (RFC 5228 2.3).
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: p}, nil
	}
	c := l.src[l.off]
	switch {
	case strings.IndexByte(";,[](){}", c) >= 0:
		l.advance(1)
		return token{kind: tokPunct, pos: p, text: string(c)}, nil
	case c == '"':
		return l.quoted()
	case c == ':':
		l.advance(1)
		id := l.identifier()
		if id == "" {
			return token{}, errorf(p, "':' must be followed by a tag name")
		}
		return token{kind: tokTag, pos: p, text: strings.ToLower(id)}, nil
	case c >= '0' && c <= '9':
		return l.number()
	case isIdentStart(c):
		id := l.identifier()
		// RFC 5228 8.1: "text:" starts a multi-line string (ABNF literals are
		// case-insensitive).
		if strings.EqualFold(id, "text") && l.off < len(l.src) && l.src[l.off] == ':' {
			l.advance(1)
			return l.multiline(p)
		}
		return token{kind: tokIdent, pos: p, text: strings.ToLower(id)}, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return token{}, errorf(p, "unexpected character %q", r)
}

func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		switch c := l.src[l.off]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance(1)
		case c == '#': // hash-comment to end of line
			end := strings.IndexByte(l.src[l.off:], '\n')
			if end < 0 {
				end = len(l.src) - l.off - 1
			}
			l.advance(end + 1)
		case c == '/' && strings.HasPrefix(l.src[l.off:], "/*"): // bracket-comment, not nested
			p := l.pos()
			end := strings.Index(l.src[l.off+2:], "*/")
			if end < 0 {
				return errorf(p, "unterminated bracket comment")
			}
			l.advance(end + 4)
		default:
			return nil
		}
	}
	return nil
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// identifier reads RFC 5228 8.1 identifier = (ALPHA / "_") *(ALPHA / DIGIT / "_").
func (l *lexer) identifier() string {
	start := l.off
	if l.off < len(l.src) && isIdentStart(l.src[l.off]) {
		n := 1
		for l.off+n < len(l.src) && isIdentChar(l.src[l.off+n]) {
			n++
		}
		l.advance(n)
	}
	return l.src[start:l.off]
}

// number reads RFC 5228 2.4.1 number = 1*DIGIT [ QUANTIFIER ], QUANTIFIER = "K"/"M"/"G".
func (l *lexer) number() (token, error) {
	p := l.pos()
	var v int64
	for l.off < len(l.src) && l.src[l.off] >= '0' && l.src[l.off] <= '9' {
		d := int64(l.src[l.off] - '0')
		if v > (math.MaxInt64-d)/10 {
			return token{}, errorf(p, "number too large")
		}
		v = v*10 + d
		l.advance(1)
	}
	if l.off < len(l.src) {
		shift := 0
		switch l.src[l.off] {
		case 'K', 'k':
			shift = 10
		case 'M', 'm':
			shift = 20
		case 'G', 'g':
			shift = 30
		}
		if shift > 0 {
			if v > math.MaxInt64>>shift {
				return token{}, errorf(p, "number too large")
			}
			v <<= shift
			l.advance(1)
		}
	}
	if l.off < len(l.src) && isIdentChar(l.src[l.off]) {
		return token{}, errorf(l.pos(), "unexpected character %q after number", l.src[l.off])
	}
	return token{kind: tokNumber, pos: p, num: v}, nil
}

// quoted reads RFC 5228 2.4.2 quoted-string: "\" escapes the next character, which is
// taken literally ("undefined escape sequences" keep only the character). A quoted
// string may contain line breaks.
func (l *lexer) quoted() (token, error) {
	p := l.pos()
	l.advance(1)
	var b strings.Builder
	for {
		i := strings.IndexAny(l.src[l.off:], "\"\\")
		if i < 0 {
			return token{}, errorf(p, "unterminated string")
		}
		b.WriteString(l.src[l.off : l.off+i])
		l.advance(i)
		if l.src[l.off] == '"' {
			l.advance(1)
			return token{kind: tokString, pos: p, text: b.String()}, nil
		}
		if l.off+1 >= len(l.src) {
			return token{}, errorf(p, "unterminated string")
		}
		_, size := utf8.DecodeRuneInString(l.src[l.off+1:])
		b.WriteString(l.src[l.off+1 : l.off+1+size])
		l.advance(1 + size)
	}
}

// multiline reads the body of a "text:" string (RFC 5228 2.4.2, 8.1): the rest of the
// "text:" line may hold only white space and a hash comment; then lines up to a line
// holding a single "."; a leading ".." stands for ".". Lines end in CRLF in the value
// whatever the script used.
func (l *lexer) multiline(p Position) (token, error) {
	eol := strings.IndexByte(l.src[l.off:], '\n')
	if eol < 0 {
		return token{}, errorf(p, "unterminated multi-line string")
	}
	rest := strings.TrimRight(l.src[l.off:l.off+eol], "\r")
	if trimmed := strings.TrimLeft(rest, " \t"); trimmed != "" && trimmed[0] != '#' {
		return token{}, errorf(p, "text: must be followed by the end of the line")
	}
	l.advance(eol + 1)
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, errorf(p, "unterminated multi-line string (no line with a single \".\")")
		}
		eol := strings.IndexByte(l.src[l.off:], '\n')
		raw := l.src[l.off:]
		if eol >= 0 {
			raw = l.src[l.off : l.off+eol]
		}
		line := strings.TrimSuffix(raw, "\r")
		n := len(raw)
		if eol >= 0 {
			n++
		}
		if line == "." {
			l.advance(n)
			return token{kind: tokString, pos: p, text: b.String()}, nil
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
		b.WriteString("\r\n")
		l.advance(n)
	}
}
