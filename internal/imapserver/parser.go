package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// Limits of the command parser. The line and APPEND literal bounds are Options; these
// bound what one command may hold in memory besides a streamed APPEND literal.
const (
	maxLiterals   = 1000    // literals in one command
	maxCommandMem = 1 << 20 // bytes of lines and in-memory literals in one command
	maxMemLiteral = 1 << 20 // one literal read into memory (strings, not messages)
)

// errLineTooLong ends the connection: the rest of the line cannot be told from commands.
func errLineTooLong() *respError {
	return &respError{status: "BAD", code: codeTooBig, text: "command line too long", close: true}
}

// parser reads one command at a time from the connection. It is streaming: it holds the
// current line and pulls the next one only when a literal ends (RFC 9051 4.3), so an
// APPEND literal flows to the store without being held here.
//
// A literal is announced at the end of a line: "{n}" (synchronizing: the server answers
// "+" before the client sends it), "{n+}" (LITERAL+, RFC 7888) or "~{n}" (literal8,
// RFC 3516 BINARY). A synchronizing literal over the limit is refused with NO [TOOBIG]
// and no "+" (RFC 7888 4, RFC 9051 7.1); a non-synchronizing one over the limit cannot be
// refused without reading it, so the reply is BAD and the connection closes.
type parser struct {
	br      *bufio.Reader
	cont    func() error // sends the "+" continuation request and flushes
	maxLine int
	maxLit  int64 // APPEND literal bound

	line []byte // current line, CRLF removed
	pos  int
	lits int // literals in this command
	mem  int // bytes of this command held in memory
}

func newParser(br *bufio.Reader, cont func() error, maxLine int, maxLit int64) *parser {
	return &parser{br: br, cont: cont, maxLine: maxLine, maxLit: maxLit}
}

// begin reads the first line of a command and resets the per-command counters.
func (p *parser) begin() error {
	p.lits, p.mem = 0, 0
	return p.readLine()
}

// readLine reads one CRLF-terminated line (a bare LF is tolerated, as every mature
// server does) of at most maxLine octets.
func (p *parser) readLine() error {
	p.line = p.line[:0]
	p.pos = 0
	for {
		frag, err := p.br.ReadSlice('\n')
		if len(p.line)+len(frag) > p.maxLine {
			return errLineTooLong()
		}
		p.line = append(p.line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(p.line) > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	p.line = bytes.TrimSuffix(p.line, []byte("\n"))
	p.line = bytes.TrimSuffix(p.line, []byte("\r"))
	p.mem += len(p.line)
	if p.mem > maxCommandMem {
		return &respError{status: "BAD", code: codeTooBig, text: "command too large", close: true}
	}
	return nil
}

// atEnd reports whether the current line is consumed.
func (p *parser) atEnd() bool { return p.pos >= len(p.line) }

func (p *parser) peek() byte {
	if p.atEnd() {
		return 0
	}
	return p.line[p.pos]
}

// rest returns the unparsed remainder of the line (for error messages and AUTHENTICATE).
func (p *parser) rest() string { return string(p.line[p.pos:]) }

func (p *parser) take(c byte) bool {
	if !p.atEnd() && p.line[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(c byte) error {
	if !p.take(c) {
		return bad("expected %q at offset %d", c, p.pos)
	}
	return nil
}

// sp consumes one space (RFC 9051 9: SP).
func (p *parser) sp() error { return p.expect(' ') }

// end checks that the command is complete (RFC 9051 9: CRLF).
func (p *parser) end() error {
	if !p.atEnd() {
		return bad("unexpected %q at end of command", truncate(p.rest(), 20))
	}
	return nil
}

// isAtomChar is ATOM-CHAR (RFC 9051 9): any CHAR except atom-specials.
func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// word consumes characters accepted by ok; at least one.
func (p *parser) word(ok func(byte) bool, what string) (string, error) {
	start := p.pos
	for !p.atEnd() && ok(p.line[p.pos]) {
		p.pos++
	}
	if p.pos == start {
		return "", bad("expected %s at offset %d", what, start)
	}
	return string(p.line[start:p.pos]), nil
}

// atom reads an atom.
func (p *parser) atom() (string, error) { return p.word(isAtomChar, "atom") }

// tag reads a command tag: ASTRING-CHAR except "+" (RFC 9051 9).
func (p *parser) tag() (string, error) {
	return p.word(func(c byte) bool { return (isAtomChar(c) || c == ']') && c != '+' }, "tag")
}

// flagAtom reads a flag: "\" atom or atom (RFC 9051 9 flag).
func (p *parser) flag() (string, error) {
	pre := ""
	if p.take('\\') {
		pre = `\`
	}
	a, err := p.atom()
	return pre + a, err
}

// number reads a number (RFC 9051 9: 32-bit unsigned).
func (p *parser) number() (uint32, error) {
	n, err := p.number64()
	if err != nil {
		return 0, err
	}
	if n > 1<<32-1 {
		return 0, bad("number out of range")
	}
	return uint32(n), nil
}

// nzNumber reads a non-zero number.
func (p *parser) nzNumber() (uint32, error) {
	n, err := p.number()
	if err == nil && n == 0 {
		return 0, bad("zero where a non-zero number is required")
	}
	return n, err
}

// number64 reads a number64 (RFC 9051 9: 63-bit).
func (p *parser) number64() (uint64, error) {
	s, err := p.word(func(c byte) bool { return c >= '0' && c <= '9' }, "number")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, bad("number out of range")
	}
	return n, nil
}

// quoted reads a quoted string (RFC 9051 9 quoted; UTF-8 allowed, RFC 6855 and 9051).
func (p *parser) quoted() (string, error) {
	if err := p.expect('"'); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		if p.atEnd() {
			return "", bad("unterminated quoted string")
		}
		c := p.line[p.pos]
		p.pos++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.atEnd() || (p.line[p.pos] != '\\' && p.line[p.pos] != '"') {
				return "", bad("bad escape in quoted string")
			}
			b.WriteByte(p.line[p.pos])
			p.pos++
		case 0, '\r', '\n':
			return "", bad("control character in quoted string")
		default:
			b.WriteByte(c)
		}
	}
}

// literalHeader is a parsed "{n}", "{n+}" or "~{n}".
type literalHeader struct {
	size   int64
	sync   bool
	binary bool
}

// literalAt parses a literal announcement at the current position; it must end the line.
func (p *parser) literalAt() (literalHeader, error) {
	var h literalHeader
	h.binary = p.take('~')
	if err := p.expect('{'); err != nil {
		return h, err
	}
	n, err := p.number64()
	if err != nil {
		return h, err
	}
	h.size = int64(n)
	h.sync = !p.take('+')
	if err := p.expect('}'); err != nil {
		return h, err
	}
	if !p.atEnd() {
		return h, bad("literal announcement must end the line")
	}
	p.lits++
	if p.lits > maxLiterals {
		return h, &respError{status: "BAD", code: codeLimit, text: "too many literals", close: !h.sync, noCont: h.sync}
	}
	return h, nil
}

// refuseLiteral answers a literal over limit: NO [TOOBIG] without "+" for a
// synchronizing one, BAD and close for one already on its way.
func refuseLiteral(h literalHeader) *respError {
	if h.sync {
		return &respError{status: "NO", code: codeTooBig, text: "literal too large", noCont: true}
	}
	return &respError{status: "BAD", code: codeTooBig, text: "non-synchronizing literal too large", close: true}
}

// openLiteral announces acceptance (the "+" for a synchronizing literal) and returns a
// reader of exactly h.size octets.
func (p *parser) openLiteral(h literalHeader) (io.Reader, error) {
	if h.sync {
		if err := p.cont(); err != nil {
			return nil, err
		}
	}
	return io.LimitReader(p.br, h.size), nil
}

// finishLiteral discards what the consumer left of the literal and reads the line that
// continues the command.
func (p *parser) finishLiteral(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if lr, ok := r.(*io.LimitedReader); ok && lr.N > 0 {
		return io.ErrUnexpectedEOF
	}
	return p.readLine()
}

// literal reads a literal into memory (strings: LOGIN, SEARCH, mailbox names).
func (p *parser) literal() ([]byte, bool, error) {
	h, err := p.literalAt()
	if err != nil {
		return nil, false, err
	}
	if h.size > maxMemLiteral || p.mem+int(h.size) > maxCommandMem {
		return nil, false, refuseLiteral(h)
	}
	r, err := p.openLiteral(h)
	if err != nil {
		return nil, false, err
	}
	buf := make([]byte, h.size)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, false, err
	}
	p.mem += len(buf)
	if !h.binary && bytes.IndexByte(buf, 0) >= 0 {
		// RFC 9051 9: a literal is CHAR8, NUL excluded; only literal8 may hold it.
		if err := p.readLine(); err != nil {
			return nil, false, err
		}
		return nil, false, bad("NUL in literal")
	}
	return buf, h.binary, p.readLine()
}

// String reads a string: quoted or literal.
func (p *parser) string() (string, error) {
	switch p.peek() {
	case '"':
		return p.quoted()
	case '{', '~':
		b, _, err := p.literal()
		return string(b), err
	}
	return "", bad("expected string at offset %d", p.pos)
}

// astring reads an astring: atom (with "]"), quoted or literal (RFC 9051 9).
func (p *parser) astring() (string, error) {
	switch p.peek() {
	case '"', '{', '~':
		return p.string()
	}
	return p.word(func(c byte) bool { return isAtomChar(c) || c == ']' }, "astring")
}

// nstring reads a string or NIL.
func (p *parser) nstring() (string, bool, error) {
	if p.peek() != '"' && p.peek() != '{' && p.peek() != '~' {
		a, err := p.atom()
		if err != nil || !strings.EqualFold(a, "NIL") {
			return "", false, bad("expected string or NIL")
		}
		return "", false, nil
	}
	s, err := p.string()
	return s, true, err
}

// list parses "(" [item *(SP item)] ")" calling item for each element.
func (p *parser) list(item func() error) error {
	if err := p.expect('('); err != nil {
		return err
	}
	if p.take(')') {
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if p.take(')') {
			return nil
		}
		if err := p.sp(); err != nil {
			return err
		}
	}
}

// skipCommand discards the rest of a failed command so the next one starts cleanly: the
// rest of the line and every non-synchronizing literal (with its following line) the
// client is sending anyway. A synchronizing literal at the end of the line is not sent
// (the client waits for "+"), so skipping stops there.
func (p *parser) skipCommand() error {
	for {
		h, ok := trailingLiteral(p.line)
		p.pos = len(p.line)
		if !ok || h.sync {
			return nil
		}
		if h.size > p.maxLit {
			return &respError{status: "BAD", code: codeTooBig, text: "non-synchronizing literal too large", close: true}
		}
		if _, err := io.CopyN(io.Discard, p.br, h.size); err != nil {
			return err
		}
		if err := p.readLine(); err != nil {
			return err
		}
	}
}

// trailingLiteral finds a literal announcement that ends line.
func trailingLiteral(line []byte) (literalHeader, bool) {
	var h literalHeader
	if len(line) < 3 || line[len(line)-1] != '}' {
		return h, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return h, false
	}
	num := line[i+1 : len(line)-1]
	if n := len(num); n > 0 && num[n-1] == '+' {
		num = num[:n-1]
	} else {
		h.sync = true
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || v < 0 {
		return h, false
	}
	h.size = v
	h.binary = i > 0 && line[i-1] == '~'
	return h, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
