package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// scanner reads a message line by line, tracking the offsets and line counts the part
// tree needs. A line longer than the read buffer comes back in fragments; only a
// fragment that starts a line can be a boundary delimiter.
type scanner struct {
	br   *bufio.Reader
	size int64
	off  int64 // offset of the next unread byte
	lfs  int64 // LF bytes before off
	err  error // sticky read error (not io.EOF)

	bol            bool // the next fragment starts a line
	prevEOL        int  // terminator length (1 LF, 2 CRLF) of the last complete line; 0 if none
	prevHadContent bool // the last complete line had bytes before its terminator
	curHasContent  bool // the line in progress (no terminator yet) has bytes
}

const scanBufSize = 32 << 10

func newScanner(r io.ReaderAt, size int64) *scanner {
	return &scanner{
		br:   bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(min(size+1, scanBufSize))),
		size: size,
		bol:  true,
	}
}

// fragment is one piece of input: a whole line or part of a long one.
type fragment struct {
	data  []byte // valid until the next call
	start int64
	bol   bool // data begins a line

	// State before this fragment, for a part that ends at this line.
	lfsBefore   int64 // LF bytes before start
	prevEOL     int   // terminator length of the line before
	prevContent bool  // the line before had bytes before its terminator
}

// next returns the next fragment; ok is false at the end of input or on a read error.
func (s *scanner) next() (f fragment, ok bool) {
	if s.err != nil {
		return f, false
	}
	data, err := s.br.ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
		s.err = err
		return f, false
	}
	if len(data) == 0 {
		return f, false
	}
	f = fragment{data: data, start: s.off, bol: s.bol,
		lfsBefore: s.lfs, prevEOL: s.prevEOL, prevContent: s.prevHadContent}
	s.off += int64(len(data))
	if data[len(data)-1] == '\n' {
		s.lfs++
		eol := 1
		if len(data) >= 2 && data[len(data)-2] == '\r' {
			eol = 2
		}
		s.prevEOL = eol
		s.prevHadContent = s.curHasContent || len(data) > eol
		s.curHasContent = false
		s.bol = true
	} else {
		s.curHasContent = true
		s.bol = false
	}
	return f, true
}

// mark is a position at which a part ends: its End offset and the line count there.
type mark struct {
	end     int64
	lfs     int64 // LF bytes before end
	partial bool  // the line before end has content (it counts as a line)
	eof     bool
	level   int  // delimiter: index of the boundary in the parser's stack
	closing bool // delimiter: "--boundary--"
}

// delimiterMark returns the mark for a delimiter line f. RFC 2046 5.1.1: the line
// terminator before the delimiter belongs to it, so the part ends before that CRLF.
func delimiterMark(f fragment, level int, closing bool) mark {
	m := mark{end: f.start, lfs: f.lfsBefore, level: level, closing: closing}
	if f.prevEOL > 0 {
		m.end -= int64(f.prevEOL)
		m.lfs--
		m.partial = f.prevContent
	}
	return m
}

// eofMark is the mark at the end of input.
func (s *scanner) eofMark() mark {
	return mark{end: s.off, lfs: s.lfs, partial: s.curHasContent, eof: true}
}

// isDelimiter reports whether line is "--" boundary ["--"] followed only by transport
// padding (RFC 2046 5.1.1: linear white space may follow the boundary).
func isDelimiter(line []byte, boundary string) (match, closing bool) {
	if len(line) < 2+len(boundary) || line[0] != '-' || line[1] != '-' {
		return false, false
	}
	if string(line[2:2+len(boundary)]) != boundary {
		return false, false
	}
	rest := line[2+len(boundary):]
	if bytes.HasPrefix(rest, []byte("--")) {
		closing = true
		rest = rest[2:]
	}
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return false, false
	}
	return true, closing
}
