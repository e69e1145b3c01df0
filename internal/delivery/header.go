package delivery

import (
	"bufio"
	"io"

	"mailgrid/internal/store"
)

// HeaderEnd returns the offset just past the blank line that ends the header section
// (RFC 5322 2.1), or the body's size when there is none. Lines are read through a small
// buffer; the body is never held in memory.
func HeaderEnd(b store.Body) (int64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(b, 0, b.Size()), 4096)
	var off int64
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			off += int64(len(line)) // a long line is never the blank one
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				off += int64(len(line))
			}
			if err == io.EOF {
				return off, nil
			}
			if err != nil {
				return 0, err
			}
			continue
		}
		off += int64(len(line))
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return 0, err
		}
		if len(line) == 2 && line[0] == '\r' || len(line) == 1 {
			return off, nil
		}
	}
}
