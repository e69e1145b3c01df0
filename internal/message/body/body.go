// Package body composes rereadable message bodies without copying them: a Body is an
// io.ReaderAt with a Size (the shape of store.Body, message.Spool and the store's blobs),
// and every helper here returns a view whose reads map onto the parts it was built from.
//
// Model: a message accepted over SMTP is spooled once; everything that happens to it
// afterwards — trace fields prepended (Received, Return-Path, RFC 5321 4.4), header
// fields a filter adds (Authentication-Results, X-Spam-*), fields a filter strips
// (forged Authentication-Results, RFC 8601 5) — is a view over that spool:
//
//	Concat(Bytes(prefix), Strip(spool, spans))
//
// so a 50 MB attachment is never copied however many filters touch the header. Fields
// scans the header section (RFC 5322 2.2) for the spans Strip removes.
//
// Why a package of its own: the helpers began in package delivery, but the filter chain
// (package filter, which delivery imports) needs them too. A leaf package under message
// (composition of messages is message's subject; it imports only the standard library)
// lets delivery, filter, the SMTP server and the queue share one implementation without
// an import cycle. delivery keeps its Bytes/Concat/Prepend/Section/HeaderEnd names as
// thin wrappers.
package body

import (
	"io"
)

// Body is a rereadable message body. store.Body and message.Spool satisfy it (Go
// interfaces match by method set, so no package imports another for it).
type Body interface {
	io.ReaderAt
	Size() int64
}

// Bytes is a small in-memory Body (header lines to prepend, a generated reply).
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

// Size implements Body.
func (b Bytes) Size() int64 { return int64(len(b)) }

// Concat presents parts as one Body without copying them: a read at an offset is served
// by the part that holds it. Empty and nil parts are skipped; a Concat among the parts is
// flattened.
func Concat(parts ...Body) Body {
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

// Prepend returns header followed by b, without copying b.
func Prepend(header []byte, b Body) Body {
	return Concat(Bytes(header), b)
}

// Section returns the bytes [off, off+n) of b as a Body (clipped to b's size).
func Section(b Body, off, n int64) Body {
	if off+n > b.Size() {
		n = b.Size() - off
	}
	return io.NewSectionReader(b, off, n)
}

// Reader returns a reader over the whole of b.
func Reader(b Body) io.Reader { return io.NewSectionReader(b, 0, b.Size()) }

type concat struct {
	parts  []Body
	starts []int64 // starts[i] is the offset of parts[i] within the whole
	size   int64
}

func (c *concat) add(p Body) {
	c.parts = append(c.parts, p)
	c.starts = append(c.starts, c.size)
	c.size += p.Size()
}

// Size implements Body.
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
