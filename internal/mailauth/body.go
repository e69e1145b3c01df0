package mailauth

import (
	"cmp"
	"errors"
	"io"
	"slices"
)

// Body is a rereadable message: store.Body and message.Spool have this shape, so either
// can be passed without mailauth importing the store.
type Body interface {
	io.ReaderAt
	Size() int64
}

// StripFields returns a view of b without the given spans (Result.Strip): nothing is
// copied, reads map onto b. Spans that overlap, fall outside b or are empty are ignored.
// delivery prepends the new Authentication-Results field to this view.
func StripFields(b Body, spans []Span) Body {
	spans = slices.Clone(spans)
	slices.SortFunc(spans, func(x, y Span) int { return cmp.Compare(x.Start, y.Start) })
	v := &stripped{b: b}
	var next int64 // first byte of b not yet placed in a segment
	for _, s := range spans {
		if s.Start < next || s.End <= s.Start || s.End > b.Size() {
			continue
		}
		v.add(next, s.Start)
		next = s.End
	}
	v.add(next, b.Size())
	return v
}

// segment maps view offsets [at, at+end-start) onto b[start:end].
type segment struct{ at, start, end int64 }

type stripped struct {
	b    Body
	segs []segment
	size int64
}

func (v *stripped) add(start, end int64) {
	if end > start {
		v.segs = append(v.segs, segment{at: v.size, start: start, end: end})
		v.size += end - start
	}
}

// Size returns the size of the view.
func (v *stripped) Size() int64 { return v.size }

// ReadAt implements io.ReaderAt over the view.
func (v *stripped) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("mailauth: negative offset")
	}
	n := 0
	i, _ := slices.BinarySearchFunc(v.segs, off, func(s segment, off int64) int {
		if s.at+s.end-s.start <= off {
			return -1
		}
		if s.at > off {
			return 1
		}
		return 0
	})
	for ; i < len(v.segs) && n < len(p); i++ {
		s := v.segs[i]
		from := s.start + (off + int64(n) - s.at)
		want := min(int64(len(p)-n), s.end-from)
		m, err := v.b.ReadAt(p[n:n+int(want)], from)
		n += m
		if err != nil && !(err == io.EOF && int64(m) == want) {
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
