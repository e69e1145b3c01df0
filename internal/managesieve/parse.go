package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// The command grammar of RFC 5804 4:
//
//	command     = atom *(SP argument) CRLF
//	argument    = string / number
//	string      = quoted / literal-c2s
//	quoted      = DQUOTE *QUOTED-CHAR DQUOTE      ; "\" escapes only DQUOTE and "\"
//	literal-c2s = "{" number "+}" CRLF *OCTET      ; "{" number "}" is accepted too
//	number      = 1*DIGIT                          ; 32-bit unsigned

// argKind is the type of one command argument.
type argKind uint8

const (
	argString argKind = iota // quoted string or literal
	argNumber
)

// arg is one argument of a command.
type arg struct {
	kind argKind
	s    string // argString
	n    uint32 // argNumber
}

// command is one parsed client command.
type command struct {
	verb string // the command atom, upper-cased
	args []arg
}

// parseError is a command the grammar refuses. The session answers NO with its text
// and code and skips the rest of the command (parser.skip).
type parseError struct {
	code string // response code, e.g. QUOTA/MAXSIZE for an oversized literal; "" usually
	msg  string
}

func (e *parseError) Error() string { return e.msg }

func syntaxErr(format string, a ...any) *parseError {
	return &parseError{msg: fmt.Sprintf(format, a...)}
}

// Errors that end the session: the stream cannot be resynchronised.
var (
	errLineTooLong = errors.New("line too long")
	errLiteralHuge = errors.New("literal too large to skip")
)

const (
	maxVerb     = 32
	maxArgs     = 4
	maxNumber   = 1<<32 - 1 // RFC 5804 4: number is a 32-bit unsigned number
	maxLitDigit = 10
)

// parser reads commands from a buffered stream. It never holds more than the line
// bound plus the command's literal budget.
type parser struct {
	r       *bufio.Reader
	maxLine int    // octets of a command outside its literals, line ends included
	used    int    // octets outside literals read for the current command
	budget  int64  // literal octets the current command may still carry
	discard int64  // largest literal thrown away to stay in step; larger ends the session
	eol     bool   // the end of the current command's line has been read
	verb    string // the current command's verb; "" for a SASL response
}

func newParser(r *bufio.Reader, maxLine int, discard int64) *parser {
	return &parser{r: r, maxLine: maxLine, discard: discard}
}

// command reads one command. budget returns the literal budget of a verb. It returns
// a nil command for an empty line, a *parseError for a command the grammar refuses (the
// caller then calls skip), or a fatal error.
func (p *parser) command(budget func(verb string) int64) (*command, error) {
	p.used, p.eol, p.verb = 0, false, ""
	verb, err := p.atom()
	if err != nil {
		return nil, err
	}
	if verb == "" {
		if done, err := p.lineEnd(); err != nil || done {
			return nil, err
		}
		return nil, syntaxErr("Expected a command")
	}
	p.budget, p.verb = budget(verb), verb
	cmd := &command{verb: verb}
	if cmd.args, err = p.arguments(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// response reads one string followed by the end of the line: a client's answer to a
// SASL challenge (RFC 5804 2.1).
func (p *parser) response(budget int64) (string, error) {
	p.used, p.eol, p.budget, p.verb = 0, false, budget, ""
	a, err := p.argument()
	if err != nil {
		return "", err
	}
	if a.kind != argString {
		return "", syntaxErr("Expected a string")
	}
	done, err := p.lineEnd()
	if err != nil {
		return "", err
	}
	if !done {
		return "", syntaxErr("Expected the end of the line")
	}
	return a.s, nil
}

// arguments reads SP-separated arguments up to the end of the line.
func (p *parser) arguments() ([]arg, error) {
	var args []arg
	for {
		done, err := p.lineEnd()
		if err != nil || done {
			return args, err
		}
		b, err := p.readByte()
		if err != nil {
			return nil, err
		}
		if b != ' ' {
			return nil, syntaxErr("Expected a space or the end of the line")
		}
		if len(args) == maxArgs {
			return nil, syntaxErr("Too many arguments")
		}
		a, err := p.argument()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
}

func (p *parser) argument() (arg, error) {
	b, err := p.peekByte()
	if err != nil {
		return arg{}, err
	}
	switch {
	case b == '"':
		s, err := p.quoted()
		return arg{kind: argString, s: s}, err
	case b == '{':
		s, err := p.literal()
		return arg{kind: argString, s: s}, err
	case b >= '0' && b <= '9':
		n, err := p.number()
		return arg{kind: argNumber, n: n}, err
	}
	return arg{}, syntaxErr("Expected a string or a number")
}

// lineEnd consumes CRLF (or a bare LF) if it comes next and reports whether it did.
func (p *parser) lineEnd() (bool, error) {
	b, err := p.peekByte()
	if err != nil {
		return false, err
	}
	switch b {
	case '\n':
	case '\r':
		if _, err := p.readByte(); err != nil {
			return false, err
		}
		if b, err = p.peekByte(); err != nil {
			return false, err
		}
		if b != '\n' {
			return false, syntaxErr("CR without LF")
		}
	default:
		return false, nil
	}
	if _, err := p.readByte(); err != nil {
		return false, err
	}
	p.eol = true
	return true, nil
}

// atom reads the command name: letters only, upper-cased (commands are
// case-insensitive, RFC 5804 1.2).
func (p *parser) atom() (string, error) {
	var buf [maxVerb]byte
	n := 0
	for {
		b, err := p.peekByte()
		if err != nil {
			return "", err
		}
		if b >= 'a' && b <= 'z' {
			b -= 'a' - 'A'
		} else if b < 'A' || b > 'Z' {
			if n > 0 && b != ' ' && b != '\r' && b != '\n' {
				return "", syntaxErr("Invalid character in command name")
			}
			return string(buf[:n]), nil
		}
		if n == maxVerb {
			return "", syntaxErr("Command name too long")
		}
		buf[n] = b
		n++
		if _, err := p.readByte(); err != nil {
			return "", err
		}
	}
}

// quoted reads a quoted string (RFC 5804 4). Only DQUOTE and "\" may be escaped; CR,
// LF and NUL may not appear; the content must be UTF-8. Its length is bounded by the
// line, not by the 1024 octets of the grammar, as Dovecot does.
func (p *parser) quoted() (string, error) {
	if _, err := p.readByte(); err != nil { // the opening DQUOTE
		return "", err
	}
	var b bytes.Buffer
	for {
		c, err := p.readByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			if !utf8.Valid(b.Bytes()) {
				return "", syntaxErr("Quoted string is not valid UTF-8")
			}
			return b.String(), nil
		case '\\':
			if c, err = p.readByte(); err != nil {
				return "", err
			}
			if c != '"' && c != '\\' {
				p.unread(c)
				return "", syntaxErr("Invalid escape in quoted string")
			}
		case '\r', '\n':
			p.unread(c)
			return "", syntaxErr("Unterminated quoted string")
		case 0:
			return "", syntaxErr("NUL in quoted string")
		}
		b.WriteByte(c)
	}
}

// unread puts back the byte just read, so skip sees a line end the grammar refused.
func (p *parser) unread(c byte) {
	if c == '\r' || c == '\n' {
		if err := p.r.UnreadByte(); err == nil {
			p.used--
		}
	}
}

// literalHeader reads "{" number ["+"] "}" and the line end after it.
func (p *parser) literalHeader() (int64, error) {
	if _, err := p.readByte(); err != nil { // "{"
		return 0, err
	}
	var digits [maxLitDigit]byte
	n := 0
	for {
		c, err := p.readByte()
		if err != nil {
			return 0, err
		}
		if c >= '0' && c <= '9' && n < maxLitDigit {
			digits[n] = c
			n++
			continue
		}
		if c == '+' {
			if c, err = p.readByte(); err != nil {
				return 0, err
			}
		}
		if c != '}' || n == 0 {
			p.unread(c)
			return 0, syntaxErr("Invalid literal")
		}
		break
	}
	size, err := strconv.ParseUint(string(digits[:n]), 10, 64)
	if err != nil || size > maxNumber {
		return 0, syntaxErr("Literal size out of range")
	}
	done, err := p.lineEnd()
	if err != nil {
		return 0, err
	}
	if !done {
		return 0, syntaxErr("A literal size must end the line")
	}
	p.eol = false // the command goes on after the literal
	return int64(size), nil
}

// literal reads a literal within the command's budget. One over it is thrown away (up
// to p.discard octets) and refused with QUOTA/MAXSIZE; a larger one ends the session.
func (p *parser) literal() (string, error) {
	size, err := p.literalHeader()
	if err != nil {
		return "", err
	}
	if size > p.budget {
		if size > p.discard {
			return "", errLiteralHuge
		}
		if _, err := io.CopyN(io.Discard, p.r, size); err != nil {
			return "", err
		}
		pe := &parseError{msg: fmt.Sprintf("Literal of %d octets is over the limit", size)}
		if carriesScript(p.verb) {
			pe.code = codeMaxSize // RFC 5804 1.3: the script is too large
		}
		return "", pe
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(p.r, buf); err != nil {
		return "", err
	}
	p.budget -= size
	return string(buf), nil
}

// carriesScript reports whether a command uploads a script.
func carriesScript(verb string) bool { return verb == "PUTSCRIPT" || verb == "CHECKSCRIPT" }

// number reads a 32-bit unsigned number (RFC 5804 4).
func (p *parser) number() (uint32, error) {
	var v uint64
	for n := 0; ; n++ {
		c, err := p.peekByte()
		if err != nil {
			return 0, err
		}
		if c < '0' || c > '9' {
			if c != ' ' && c != '\r' && c != '\n' {
				return 0, syntaxErr("Invalid number")
			}
			return uint32(v), nil
		}
		if v = v*10 + uint64(c-'0'); v > maxNumber || n >= maxLitDigit {
			return 0, syntaxErr("Number out of range")
		}
		if _, err := p.readByte(); err != nil {
			return 0, err
		}
	}
}

func (p *parser) readByte() (byte, error) {
	if p.used >= p.maxLine {
		return 0, errLineTooLong
	}
	b, err := p.r.ReadByte()
	if err == nil {
		p.used++
	}
	return b, err
}

func (p *parser) peekByte() (byte, error) {
	if p.used >= p.maxLine {
		return 0, errLineTooLong
	}
	b, err := p.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// skip discards the rest of a command the grammar refused: up to the end of its line
// and, when that line ends with a literal size, the literal and the line after it, and
// so on. Script text behind a refused PUTSCRIPT is never read as commands.
func (p *parser) skip() error {
	for !p.eol {
		var tail []byte // the last octets of the line, to find a literal size
		for {
			b, err := p.readByte()
			if err != nil {
				return err
			}
			if b == '\n' {
				break
			}
			if len(tail) == 16 {
				tail = append(tail[:0], tail[1:]...)
			}
			tail = append(tail, b)
		}
		size, ok := trailingLiteral(bytes.TrimSuffix(tail, []byte{'\r'}))
		if !ok {
			p.eol = true
			break
		}
		if size > p.discard {
			return errLiteralHuge
		}
		if _, err := io.CopyN(io.Discard, p.r, size); err != nil {
			return err
		}
		p.used = 0
	}
	return nil
}

// trailingLiteral recognises "{n+}" or "{n}" at the end of a line.
func trailingLiteral(line []byte) (int64, bool) {
	if !bytes.HasSuffix(line, []byte{'}'}) {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := bytes.TrimSuffix(line[open+1:len(line)-1], []byte{'+'})
	if len(digits) == 0 || len(digits) > maxLitDigit {
		return 0, false
	}
	n, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || n > maxNumber {
		return 0, false
	}
	return int64(n), true
}
