package body

import (
	"bufio"
	"cmp"
	"io"
	"slices"
	"strings"
)

// Span is the byte range [Start, End) of a Body.
type Span struct{ Start, End int64 }

// Field is one header field of a Body: its name as written and the span of the whole
// field, folded continuation lines and the final CRLF included.
type Field struct {
	Name string
	Span Span
}

// maxScan bounds how much of a header section Fields reads (as message.MaxHeaderBytes).
const maxScan = 1 << 20

// HeaderEnd returns the offset just past the blank line that ends the header section
// (RFC 5322 2.1), or b's size when there is none. Lines are read through a small buffer;
// b is never held in memory.
func HeaderEnd(b Body) (int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(b, 0, b.Size()), 4096)
	var off int64
	for {
		n, blank, err := readLine(br)
		off += n
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return 0, err
		}
		if blank {
			return off, nil
		}
	}
}

// readLine consumes one line (of any length) and reports its length and whether it was
// the empty line (CRLF or a bare LF).
func readLine(br *bufio.Reader) (n int64, blank bool, err error) {
	line, err := br.ReadSlice('\n')
	n = int64(len(line))
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		n += int64(len(line))
		blank = false
		if err != bufio.ErrBufferFull {
			return n, false, err
		}
	}
	if err != nil {
		return n, false, err
	}
	return n, len(line) == 2 && line[0] == '\r' || len(line) == 1, nil
}

// Fields lists the header fields of b in order (RFC 5322 2.2: a field is a line with a
// name and a colon plus the continuation lines starting with white space). Only the
// first MiB of the header is scanned. A line without a colon ends no field and is not
// reported (it stays in any view, as garbage it was).
func Fields(b Body) ([]Field, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(b, 0, min(b.Size(), maxScan)), 4096)
	var fields []Field
	var off int64
	cur := -1 // index of the field a continuation line extends
	for {
		// The first byte is copied out: the slice Peek returns is only valid until the
		// next read, and peekName's longer Peek may move the buffered bytes.
		head, _ := br.Peek(1)
		folded := len(head) == 1 && (head[0] == ' ' || head[0] == '\t')
		start := off
		name := ""
		if len(head) == 1 && !folded {
			name = peekName(br)
		}
		n, blank, err := readLine(br)
		off += n
		if blank || (err != nil && n == 0) {
			break
		}
		switch {
		case folded && cur >= 0:
			fields[cur].Span.End = off // RFC 5322 2.2.3 folding
		case name != "":
			fields = append(fields, Field{Name: name, Span: Span{start, off}})
			cur = len(fields) - 1
		default:
			cur = -1
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return fields, nil
}

// peekName returns the field name at the reader's position ("" when the line has no
// "name:" prefix of printable characters, RFC 5322 3.6.8).
func peekName(br *bufio.Reader) string {
	buf, _ := br.Peek(256) // fewer at the end of the input: an error we need not see
	for i, c := range buf {
		switch {
		case c == ':' && i > 0:
			return strings.TrimRight(string(buf[:i]), " \t")
		case c == ' ' || c == '\t':
			continue // obsolete "Name :" (RFC 5322 4.5.8)
		case c < 33 || c > 126:
			return ""
		}
	}
	return ""
}

// Strip returns a view of b without the given spans: nothing is copied, reads map onto
// b. Overlapping, empty and out-of-range spans are ignored.
func Strip(b Body, spans []Span) Body {
	if len(spans) == 0 {
		return b
	}
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(x, y Span) int { return cmp.Compare(x.Start, y.Start) })
	var parts []Body
	var next int64
	for _, s := range spans {
		if s.Start < next || s.End <= s.Start || s.End > b.Size() {
			continue
		}
		if s.Start > next {
			parts = append(parts, Section(b, next, s.Start-next))
		}
		next = s.End
	}
	if next < b.Size() {
		parts = append(parts, Section(b, next, b.Size()-next))
	}
	return Concat(parts...)
}
