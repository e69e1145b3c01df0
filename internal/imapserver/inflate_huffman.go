package imapserver

// huffman is a canonical Huffman code (RFC 1951 3.2.2) as the number of codes of each
// length and the symbols ordered by code: enough to decode a bit at a time.
type huffman struct {
	count  [16]uint16  // codes of each length 1..15 (count[0] unused)
	symbol [288]uint16 // symbols in canonical code order
}

// build makes the code from the code length of each symbol (0 = unused). An
// over-subscribed set of lengths is corrupt; an incomplete one is accepted (a single
// distance code is legal, RFC 1951 3.2.7) and an unused code fails when decoded.
func (h *huffman) build(lengths []uint8) error {
	h.count = [16]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return errCorruptDeflate
		}
	}
	var offs [16]uint16
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	return nil
}

// decode reads one symbol of h. Huffman codes are packed most significant bit first
// (RFC 1951 3.1.1), so the code is read a bit at a time.
func (f *inflater) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := f.getBits(1)
		if err != nil {
			return 0, err
		}
		code |= int(b)
		count := int(h.count[l])
		if code-first < count {
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, errCorruptDeflate
}

// fixedCodes sets the fixed literal/length and distance codes (RFC 1951 3.2.6).
func (f *inflater) fixedCodes() {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	_ = f.lit.build(l[:]) // complete by construction
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	_ = f.dist.build(d[:])
}

// codeLengthOrder is the order of the code length code lengths (RFC 1951 3.2.7).
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamicCodes reads the code definitions of a dynamic block (RFC 1951 3.2.7).
func (f *inflater) dynamicCodes() error {
	v, err := f.getBits(14)
	if err != nil {
		return err
	}
	nlit, ndist, nclen := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nlit > 286 || ndist > 30 {
		return errCorruptDeflate
	}
	var cl [19]uint8
	for i := range nclen {
		b, err := f.getBits(3)
		if err != nil {
			return err
		}
		cl[codeLengthOrder[i]] = uint8(b)
	}
	var clCode huffman
	if err := clCode.build(cl[:]); err != nil {
		return err
	}
	var lengths [286 + 30]uint8
	for i := 0; i < nlit+ndist; {
		sym, err := f.decode(&clCode)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var val uint8
		var rep uint32
		switch sym {
		case 16: // repeat the previous length 3-6 times
			if i == 0 {
				return errCorruptDeflate
			}
			val = lengths[i-1]
			rep, err = f.getBits(2)
			rep += 3
		case 17: // 3-10 zeros
			rep, err = f.getBits(3)
			rep += 3
		default: // 18: 11-138 zeros
			rep, err = f.getBits(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+int(rep) > nlit+ndist {
			return errCorruptDeflate
		}
		for range rep {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 {
		return errCorruptDeflate // no end-of-block code
	}
	if err := f.lit.build(lengths[:nlit]); err != nil {
		return err
	}
	return f.dist.build(lengths[nlit : nlit+ndist])
}
