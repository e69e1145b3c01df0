package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrSpoolClosed is returned by a Spool used after Close.
var ErrSpoolClosed = errors.New("message: spool closed")

// Spool is a rereadable message buffer: an io.Writer while a message is received, an
// io.ReaderAt with Size afterwards (it satisfies store.Body). It keeps up to memLimit bytes
// in memory and moves everything to a temporary file in dir once a write would exceed
// that. The file is unlinked right after it is created where the OS allows (so a crash
// leaves nothing behind), and removed on Close otherwise.
//
// Writes must not run concurrently with anything else; once writing is done, ReadAt may be
// called concurrently. Close releases the memory or file; it must be called.
type Spool struct {
	dir      string
	memLimit int
	mem      []byte
	file     *os.File
	name     string // file's path while it is still linked; "" once unlinked
	size     int64
	err      error // sticky write error: the content is incomplete
	closed   bool
}

// NewSpool returns an empty spool. dir "" means os.TempDir(). A memLimit <= 0 spools
// every byte to a file.
func NewSpool(dir string, memLimit int) *Spool {
	if dir == "" {
		dir = os.TempDir()
	}
	return &Spool{dir: dir, memLimit: memLimit}
}

// Write appends p.
func (s *Spool) Write(p []byte) (int, error) {
	if s.closed {
		return 0, ErrSpoolClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.file == nil && int64(len(s.mem))+int64(len(p)) <= int64(s.memLimit) {
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.file == nil {
		if err := s.spill(); err != nil {
			s.err = err
			return 0, err
		}
	}
	n, err := s.file.WriteAt(p, s.size)
	s.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("message: spool write: %w", err)
		return n, s.err
	}
	return n, nil
}

// spill moves the memory buffer to a new temporary file.
func (s *Spool) spill() error {
	f, err := os.CreateTemp(s.dir, "spool-*")
	if err != nil {
		return fmt.Errorf("message: spool: %w", err)
	}
	s.file, s.name = f, f.Name()
	if err := os.Remove(s.name); err == nil {
		s.name = "" // unlinked: the data lives until the descriptor closes
	}
	if len(s.mem) > 0 {
		if _, err := f.WriteAt(s.mem, 0); err != nil {
			return fmt.Errorf("message: spool write: %w", err)
		}
	}
	s.mem = nil
	return nil
}

// Size returns the number of bytes written.
func (s *Spool) Size() int64 { return s.size }

// InMemory reports whether the content is still held in memory.
func (s *Spool) InMemory() bool { return s.file == nil }

// ReadAt implements io.ReaderAt over the bytes written so far.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	if s.closed {
		return 0, ErrSpoolClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("message: spool read at negative offset %d", off)
	}
	if off >= s.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := len(p)
	if rem := s.size - off; int64(want) > rem {
		p = p[:rem]
	}
	var n int
	if s.file == nil {
		n = copy(p, s.mem[off:])
	} else {
		var err error
		n, err = s.file.ReadAt(p, off)
		if err != nil && !(errors.Is(err, io.EOF) && n == len(p)) {
			return n, fmt.Errorf("message: spool read: %w", err)
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// Reader returns a new reader over the whole content, from the start. Readers are
// independent of each other.
func (s *Spool) Reader() io.Reader {
	if s.file == nil && !s.closed {
		return bytes.NewReader(s.mem[:s.size])
	}
	return io.NewSectionReader(s, 0, s.size)
}

// Close releases the spool's memory and removes its file. It is safe to call twice.
func (s *Spool) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.mem = nil
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	if s.name != "" {
		if rerr := os.Remove(s.name); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("message: spool close: %w", err)
	}
	return nil
}
