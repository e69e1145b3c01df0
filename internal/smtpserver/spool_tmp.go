package smtpserver

// TEMPORARY stand-in for message.NewSpool until package message lands; removed then.

import (
	"bytes"
	"io"
	"os"
)

type tmpSpool struct {
	dir   string
	limit int
	buf   bytes.Buffer
	f     *os.File
	size  int64
}

func newTmpSpool(dir string, limit int) *tmpSpool { return &tmpSpool{dir: dir, limit: limit} }

func (s *tmpSpool) Write(p []byte) (int, error) {
	if s.f == nil && s.buf.Len()+len(p) > s.limit {
		f, err := os.CreateTemp(s.dir, "spool-*")
		if err != nil {
			return 0, err
		}
		if err := os.Remove(f.Name()); err != nil {
			return 0, err
		}
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			return 0, err
		}
		s.f = f
		s.buf = bytes.Buffer{}
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
	} else {
		n, err = s.buf.Write(p)
	}
	s.size += int64(n)
	return n, err
}

func (s *tmpSpool) Size() int64 { return s.size }

func (s *tmpSpool) ReadAt(p []byte, off int64) (int, error) {
	if s.f != nil {
		return s.f.ReadAt(p, off)
	}
	return bytes.NewReader(s.buf.Bytes()).ReadAt(p, off)
}

func (s *tmpSpool) Close() error {
	if s.f != nil {
		return s.f.Close()
	}
	return nil
}

var _ io.ReaderAt = (*tmpSpool)(nil)
