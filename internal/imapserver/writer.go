package imapserver

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// maxQuoted is the longest string sent quoted; longer ones go as literals, as Dovecot does.
const maxQuoted = 1024

// writer formats responses (RFC 9051 7) into the connection's buffered writer. It keeps
// the first write error, so a handler writes a whole response and checks once (flush).
type writer struct {
	bw   *bufio.Writer
	utf8 bool // UTF8=ACCEPT or IMAP4rev2: quoted strings may carry UTF-8 (RFC 6855 3)
	err  error
}

func (w *writer) raw(s string) {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
}

func (w *writer) byte(c byte) {
	if w.err == nil {
		w.err = w.bw.WriteByte(c)
	}
}

func (w *writer) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.bw, format, args...)
	}
}

func (w *writer) num(n uint64) {
	if w.err == nil {
		var buf [20]byte
		_, w.err = w.bw.Write(strconv.AppendUint(buf[:0], n, 10))
	}
}

// quotable reports whether s can be sent as a quoted string (RFC 9051 9 quoted: TEXT-CHAR
// except CR and LF, UTF-8 only when enabled).
func (w *writer) quotable(s string) bool {
	if len(s) > maxQuoted {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= 0x80 && !w.utf8 {
			return false
		}
	}
	return !w.utf8 || utf8.ValidString(s)
}

// str writes s as a quoted string or, when it cannot be quoted, a literal.
func (w *writer) str(s string) {
	if !w.quotable(s) {
		w.printf("{%d}\r\n", len(s))
		w.raw(s)
		return
	}
	w.byte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			w.byte('\\')
		}
		w.byte(s[i])
	}
	w.byte('"')
}

// nstr writes NIL for "" and a string otherwise.
func (w *writer) nstr(s string) {
	if s == "" {
		w.raw("NIL")
		return
	}
	w.str(s)
}

// astr writes s as an atom when it is one, else as a string (mailbox names, flags).
func (w *writer) astr(s string) {
	if s != "" && len(s) <= maxQuoted && !isNIL(s) {
		atom := true
		for i := 0; i < len(s); i++ {
			if !isAtomChar(s[i]) && s[i] != ']' {
				atom = false
				break
			}
		}
		if atom {
			w.raw(s)
			return
		}
	}
	w.str(s)
}

func isNIL(s string) bool {
	return len(s) == 3 && (s[0]|0x20) == 'n' && (s[1]|0x20) == 'i' && (s[2]|0x20) == 'l'
}

// literal writes a literal of n octets copied from r; binary chooses literal8
// (RFC 3516 4.2, "~{n}") for content that may hold NUL.
func (w *writer) literal(r io.Reader, n int64, binary bool) {
	if binary {
		w.byte('~')
	}
	w.printf("{%d}\r\n", n)
	if w.err == nil {
		var c int64
		c, w.err = io.CopyN(w.bw, r, n)
		if w.err == nil && c != n {
			w.err = io.ErrUnexpectedEOF
		}
	}
}

// flush sends what is buffered.
func (w *writer) flush() error {
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}
