package delivery

import (
	"io"

	"mailgrid/internal/store"
)

// Bytes is a small in-memory store.Body (header lines to prepend, a DSN's text parts).
type Bytes []byte

// ReadAt implements io.ReaderAt.
func (b Bytes) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size implements store.Body.
func (b Bytes) Size() int64 { return int64(len(b)) }

// Concat presents parts as one store.Body without copying them: a read at an offset is
// served by the part that holds it. Used to prepend trace headers (Return-Path, Received)
// to a spooled body and to build DSNs around the original header.
func Concat(parts ...store.Body) store.Body {
	c := &concat{}
	for _, p := range parts {
		if p == nil || p.Size() == 0 {
			continue
		}
		if inner, ok := p.(*concat); ok {
			for _, q := range inner.parts {
				c.add(q)
			}
			continue
		}
		c.add(p)
	}
	return c
}

// Prepend returns header followed by body, without copying body.
func Prepend(header []byte, body store.Body) store.Body {
	return Concat(Bytes(header), body)
}

// Section returns the bytes [off, off+n) of b as a store.Body.
func Section(b store.Body, off, n int64) store.Body {
	if off+n > b.Size() {
		n = b.Size() - off
	}
	return io.NewSectionReader(b, off, n)
}

type concat struct {
	parts  []store.Body
	starts []int64 // starts[i] is the offset of parts[i] within the whole
	size   int64
}

func (c *concat) add(p store.Body) {
	c.parts = append(c.parts, p)
	c.starts = append(c.starts, c.size)
	c.size += p.Size()
}

// Size implements store.Body.
func (c *concat) Size() int64 { return c.size }

// ReadAt implements io.ReaderAt.
func (c *concat) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if off >= c.size {
		return 0, io.EOF
	}
	i := c.find(off)
	n := 0
	for n < len(p) && i < len(c.parts) {
		part := c.parts[i]
		rel := off + int64(n) - c.starts[i]
		want := min(int64(len(p)-n), part.Size()-rel)
		m, err := part.ReadAt(p[n:n+int(want)], rel)
		n += m
		if err != nil && err != io.EOF {
			return n, err
		}
		if int64(m) < want {
			return n, io.ErrUnexpectedEOF // the part is shorter than it said
		}
		i++
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// find returns the index of the part holding off (binary search over starts).
func (c *concat) find(off int64) int {
	lo, hi := 0, len(c.parts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if c.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
