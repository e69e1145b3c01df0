package imapserver

import (
	"errors"
	"io"
)

// inflater decodes the client's side of COMPRESS=DEFLATE (RFC 4978): a raw DEFLATE
// stream (RFC 1951) that never ends while the connection lasts.
//
// Why not compress/flate: its Reader hands out decoded bytes only at a sync flush (an
// empty stored block), when its 32 KiB window fills, or at the end of the stream. zlib
// clients that flush with Z_PARTIAL_FLUSH (mbsync/isync does: the block is closed by an
// empty fixed-code block, RFC 4978 4 allows either) would have their command held inside
// the decoder forever. This decoder hands out what it has at the end of every block, so
// any flush a client uses delivers the command. Decoding follows RFC 1951 3.2 directly:
// canonical Huffman codes decoded a bit at a time, a 32 KiB window.
type inflater struct {
	r    io.ByteReader
	bits uint32 // pending input bits, least significant first (RFC 1951 3.1.1)
	nb   uint   // number of valid bits in bits

	win   [1 << 15]byte // the last 32 KiB of output: back-references reach into it
	wpos  int           // next write position in win
	total int64         // bytes decoded so far, to refuse distances reaching before the start

	out []byte // decoded, not yet returned by Read
	buf []byte // out's backing array, reused

	state  int // what the next bits are: stHeader, stStored, stHuffman
	final  bool
	stored int // bytes left in the current stored block
	lit    huffman
	dist   huffman
	err    error // sticky: a stream cannot be resumed after a read error
}

const (
	stHeader = iota
	stStored
	stHuffman
)

var errCorruptDeflate = errors.New("compress: corrupt DEFLATE stream")

func newInflater(r io.ByteReader) *inflater { return &inflater{r: r} }

// Read returns decoded bytes. It blocks for input only while nothing is decoded: at the
// end of each block what was decoded is returned at once.
func (f *inflater) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(f.out) == 0 && f.err == nil {
		f.out = f.buf[:0]
		f.err = f.fill(len(p))
		f.buf = f.out[:0]
	}
	if len(f.out) == 0 {
		return 0, f.err
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// Close ends the reader (the stream has no end to check).
func (f *inflater) Close() error { return nil }

// fill decodes into f.out until it holds want bytes or the current block ends.
func (f *inflater) fill(want int) error {
	for {
		switch f.state {
		case stHeader:
			if f.final {
				return io.EOF
			}
			if err := f.header(); err != nil {
				return err
			}
		case stStored:
			for f.stored > 0 && len(f.out) < want {
				b, err := f.r.ReadByte()
				if err != nil {
					return noEOF(err)
				}
				f.emit(b)
				f.stored--
			}
			if f.stored == 0 {
				f.state = stHeader
				return nil // end of block: hand out what was decoded
			}
			return nil
		case stHuffman:
			for len(f.out) < want {
				end, err := f.symbol()
				if err != nil {
					return err
				}
				if end {
					f.state = stHeader
					return nil // end of block
				}
			}
			return nil
		}
	}
}

// header reads a block header (RFC 1951 3.2.3) and prepares the block.
func (f *inflater) header() error {
	h, err := f.getBits(3)
	if err != nil {
		return err
	}
	f.final = h&1 == 1
	switch h >> 1 {
	case 0: // stored (RFC 1951 3.2.4): byte-aligned LEN and its complement NLEN
		f.bits, f.nb = 0, 0
		var b [4]byte
		for i := range b {
			if b[i], err = f.r.ReadByte(); err != nil {
				return noEOF(err)
			}
		}
		n, nn := int(b[0])|int(b[1])<<8, int(b[2])|int(b[3])<<8
		if n != ^nn&0xffff {
			return errCorruptDeflate
		}
		f.stored, f.state = n, stStored
	case 1: // fixed Huffman codes (RFC 1951 3.2.6)
		f.fixedCodes()
		f.state = stHuffman
	case 2: // dynamic Huffman codes (RFC 1951 3.2.7)
		if err := f.dynamicCodes(); err != nil {
			return err
		}
		f.state = stHuffman
	default:
		return errCorruptDeflate
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// getBits returns the next n (<= 16) bits of input, least significant first.
func (f *inflater) getBits(n uint) (uint32, error) {
	for f.nb < n {
		b, err := f.r.ReadByte()
		if err != nil {
			return 0, noEOF(err)
		}
		f.bits |= uint32(b) << f.nb
		f.nb += 8
	}
	v := f.bits & (1<<n - 1)
	f.bits >>= n
	f.nb -= n
	return v, nil
}

// emit appends one decoded byte to the output and the window.
func (f *inflater) emit(b byte) {
	f.out = append(f.out, b)
	f.win[f.wpos] = b
	f.wpos = (f.wpos + 1) & (len(f.win) - 1)
	f.total++
}

// Length and distance bases and extra bits (RFC 1951 3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// symbol decodes one literal/length symbol and, for a length, its distance and copies
// the match. It reports true at the end-of-block symbol.
func (f *inflater) symbol() (bool, error) {
	sym, err := f.decode(&f.lit)
	switch {
	case err != nil:
		return false, err
	case sym < 256:
		f.emit(byte(sym))
		return false, nil
	case sym == 256:
		return true, nil
	case sym > 285:
		return false, errCorruptDeflate
	}
	sym -= 257
	extra, err := f.getBits(uint(lengthExtra[sym]))
	if err != nil {
		return false, err
	}
	length := int(lengthBase[sym]) + int(extra)
	dsym, err := f.decode(&f.dist)
	if err != nil {
		return false, err
	}
	if dsym > 29 {
		return false, errCorruptDeflate
	}
	if extra, err = f.getBits(uint(distExtra[dsym])); err != nil {
		return false, err
	}
	dist := int(distBase[dsym]) + int(extra)
	if int64(dist) > f.total {
		return false, errCorruptDeflate // reaches before the start of the stream
	}
	for range length {
		f.emit(f.win[(f.wpos-dist)&(len(f.win)-1)])
	}
	return false, nil
}
