package bayes

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"slices"
)

// Serialised form of a MemStore (all integers unsigned LEB128 varints, as
// encoding/binary.PutUvarint):
//
//	"MGB" 0x01                          magic and format version
//	spamMessages hamMessages nTokens    totals and token count
//	nTokens times, tokens in byte order:
//	  shared suffixLen suffix spam ham  token = previous token[:shared] + suffix
//	crc32                               IEEE CRC of everything before, 4 bytes big-endian
//
// Prefix sharing makes it compact: sorted tokens share their "from:host:" or "url:"
// prefixes, so a typical token costs a few bytes beyond its distinct suffix.
const (
	codecMagic       = "MGB\x01"
	maxCodecTokens   = 1 << 26 // sanity bound on the token count read
	maxCodecTokenLen = 1024    // sanity bound on one token read
)

// ErrCorrupt is wrapped by the errors ReadFrom and UnmarshalBinary return for data that
// is not a valid serialised store.
var ErrCorrupt = errors.New("bayes: corrupt token store data")

// WriteTo writes the store's serialised form to w.
func (m *MemStore) WriteTo(w io.Writer) (int64, error) {
	m.mu.RLock()
	totals := m.totals
	keys := slices.Sorted(maps.Keys(m.tokens))
	counts := make([]Counts, len(keys))
	for i, k := range keys {
		counts[i] = m.tokens[k]
	}
	m.mu.RUnlock()

	cw := &countWriter{w: w}
	crc := crc32.NewIEEE()
	bw := bufio.NewWriter(io.MultiWriter(cw, crc))
	var buf [binary.MaxVarintLen64]byte
	put := func(v uint64) { bw.Write(buf[:binary.PutUvarint(buf[:], v)]) } // bufio: error is sticky, checked at Flush
	bw.WriteString(codecMagic)
	put(uint64(totals.Spam))
	put(uint64(totals.Ham))
	put(uint64(len(keys)))
	prev := ""
	for i, k := range keys {
		shared := commonPrefix(prev, k)
		put(uint64(shared))
		put(uint64(len(k) - shared))
		bw.WriteString(k[shared:])
		put(uint64(counts[i].Spam))
		put(uint64(counts[i].Ham))
		prev = k
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("bayes: write token store: %w", err)
	}
	if _, err := cw.Write(crc.Sum(nil)); err != nil {
		return cw.n, fmt.Errorf("bayes: write token store: %w", err)
	}
	return cw.n, nil
}

// MarshalBinary returns the store's serialised form.
func (m *MemStore) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UnmarshalBinary replaces the store's contents with the serialised form in data.
func (m *MemStore) UnmarshalBinary(data []byte) error {
	_, err := m.ReadFrom(bytes.NewReader(data))
	return err
}

// ReadFrom replaces the store's contents with the serialised form read from r, which must
// end where the data ends. On error the store is unchanged.
func (m *MemStore) ReadFrom(r io.Reader) (int64, error) {
	d := &decoder{br: bufio.NewReader(r), crc: crc32.NewIEEE()}
	tokens, totals, err := d.decode()
	if err != nil {
		return d.n, err
	}
	m.mu.Lock()
	m.tokens, m.totals = tokens, totals
	m.mu.Unlock()
	return d.n, nil
}

// decoder reads the serialised form, hashing what it reads.
type decoder struct {
	br  *bufio.Reader
	crc hash.Hash32
	n   int64
	err error // first malformed number; uvarint returns 0 after it
}

func (d *decoder) decode() (map[string]Counts, Counts, error) {
	magic := make([]byte, len(codecMagic))
	if err := d.full(magic); err != nil || string(magic) != codecMagic {
		return nil, Counts{}, fmt.Errorf("%w: bad magic", ErrCorrupt)
	}
	spam, ham, n := d.uvarint(math.MaxUint32), d.uvarint(math.MaxUint32), d.uvarint(maxCodecTokens)
	tokens := make(map[string]Counts, min(n, 1<<16))
	prev := ""
	for i := uint64(0); i < n; i++ {
		tok, c, err := d.token(prev)
		if err != nil {
			return nil, Counts{}, err
		}
		tokens[tok] = c
		prev = tok
	}
	sum := d.crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(d.br, tail[:]); err != nil {
		return nil, Counts{}, fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	d.n += 4
	if binary.BigEndian.Uint32(tail[:]) != sum {
		return nil, Counts{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if _, err := d.br.ReadByte(); err != io.EOF {
		return nil, Counts{}, fmt.Errorf("%w: trailing data", ErrCorrupt)
	}
	return tokens, Counts{Spam: uint32(spam), Ham: uint32(ham)}, nil
}

// token reads one token entry, which must sort after prev and have a non-zero count.
func (d *decoder) token(prev string) (string, Counts, error) {
	shared := d.uvarint(uint64(len(prev)))
	size := d.uvarint(maxCodecTokenLen)
	suffix := make([]byte, size)
	if err := d.full(suffix); err != nil {
		return "", Counts{}, fmt.Errorf("%w: truncated", ErrCorrupt)
	}
	c := Counts{Spam: uint32(d.uvarint(math.MaxUint32)), Ham: uint32(d.uvarint(math.MaxUint32))}
	tok := prev[:shared] + string(suffix)
	if d.err != nil {
		return "", Counts{}, d.err
	}
	if tok <= prev || c == (Counts{}) { // strictly increasing, so never empty or repeated
		return "", Counts{}, fmt.Errorf("%w: tokens out of order or empty", ErrCorrupt)
	}
	return tok, c, nil
}

// uvarint reads one number no greater than limit.
func (d *decoder) uvarint(limit uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d)
	if err != nil || v > limit {
		d.err = fmt.Errorf("%w: bad or out-of-range number", ErrCorrupt)
		return 0
	}
	return v
}

// ReadByte reads and hashes one byte (io.ByteReader for binary.ReadUvarint).
func (d *decoder) ReadByte() (byte, error) {
	c, err := d.br.ReadByte()
	if err == nil {
		d.crc.Write([]byte{c})
		d.n++
	}
	return c, err
}

func (d *decoder) full(p []byte) error {
	n, err := io.ReadFull(d.br, p)
	d.crc.Write(p[:n])
	d.n += int64(n)
	return err
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
