package mailauth

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// Bounds on the header scan of hostile input.
const (
	maxHeaderBytes = 1 << 20  // header octets scanned; what follows is treated as body
	maxFieldBytes  = 64 << 10 // octets of one kept field value; the rest is dropped
)

// Names of the header fields authentication reads.
const (
	fieldFrom        = "From"
	fieldDKIM        = "DKIM-Signature"
	fieldAuthResults = "Authentication-Results"
)

// Span is a byte range [Start, End) of a message: one header field including its
// continuation lines and final line break.
type Span struct{ Start, End int64 }

// field is one top-level header field (RFC 5322 2.2) that the scan kept.
type field struct {
	name  string // as written, surrounding white space removed
	value string // raw value after the colon, folding line breaks kept (RFC 5322 2.2.3)
	span  Span
	cut   bool // the value was longer than maxFieldBytes and is incomplete
}

// header is what scanHeader found.
type header struct {
	fields     []field // the wanted fields, in message order
	bodyStart  int64   // offset just after the empty line ending the header
	terminated bool    // an empty line ended the header (false: it ran to EOF or the bound)
	openLine   bool    // the message ended inside a header line (no final line break)
}

// unfolded returns the field value with folding removed (RFC 5322 2.2.3) and surrounding
// white space trimmed.
func (f field) unfolded() string {
	v := strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(f.value)
	return strings.TrimSpace(v)
}

// scanHeader reads the top-level header of msg and keeps the fields named in want
// (case-insensitive). Lines end in CRLF or a bare LF; a line starting with space or tab
// continues the previous field; a line without a colon is a field with no name, which is
// how go-msgauth's DKIM code splits the header too, so both agree on field boundaries.
// The only errors are read errors.
func scanHeader(msg io.ReaderAt, size int64, want ...string) (header, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(msg, 0, size), 16<<10)
	var h header
	var cur *field // the kept field being read, nil when the current field is not wanted
	var value bytes.Buffer
	flush := func(end int64) {
		if cur != nil {
			cur.value, cur.span.End = value.String(), end
			h.fields = append(h.fields, *cur)
			cur = nil
		}
		value.Reset()
	}
	var off int64
	for off < maxHeaderBytes {
		line, err := readLine(br, maxHeaderBytes-off)
		if err != nil && !errors.Is(err, io.EOF) {
			return header{}, err
		}
		if len(line) == 0 {
			break // EOF
		}
		if isBlankLine(line) {
			flush(off)
			h.bodyStart, h.terminated = off+int64(len(line)), true
			return h, nil
		}
		if (line[0] == ' ' || line[0] == '\t') && off > 0 {
			if cur != nil {
				appendBounded(&value, line, cur)
			}
		} else {
			flush(off)
			name, rest, ok := bytes.Cut(line, []byte(":"))
			if ok && wanted(string(bytes.TrimSpace(name)), want) {
				cur = &field{name: string(bytes.TrimSpace(name)), span: Span{Start: off}}
				appendBounded(&value, rest, cur)
			}
		}
		off += int64(len(line))
		if err != nil {
			h.openLine = line[len(line)-1] != '\n'
			break
		}
	}
	flush(off)
	h.bodyStart = off
	return h, nil
}

// readLine returns the next line including its LF, at most limit octets (a longer line is
// returned cut, the scan then stops at the bound). At EOF it returns the unterminated
// rest and io.EOF.
func readLine(br *bufio.Reader, limit int64) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	buf := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) && int64(len(buf)) < limit {
		line, err = br.ReadSlice('\n')
		buf = append(buf, line...)
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		err = nil
	}
	return buf, err
}

func isBlankLine(line []byte) bool {
	return string(line) == "\r\n" || string(line) == "\n"
}

func wanted(name string, want []string) bool {
	for _, w := range want {
		if strings.EqualFold(name, w) {
			return true
		}
	}
	return false
}

func appendBounded(b *bytes.Buffer, p []byte, f *field) {
	if room := maxFieldBytes - b.Len(); len(p) > room {
		p, f.cut = p[:max(room, 0)], true
	}
	b.Write(p)
}
