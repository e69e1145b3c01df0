package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// deflateChunks compresses chunks with compress/flate at level, sync-flushing after each.
func deflateChunks(t testing.TB, level int, chunks [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if _, err := w.Write(c); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInflateMatchesFlate: streams from compress/flate at every kind of level (stored,
// Huffman only, fast, best: stored, fixed and dynamic blocks, long matches across
// flushes) decode to their input, read through small and large buffers.
func TestInflateMatchesFlate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	text := []byte(strings.Repeat("a1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER])\r\n", 500))
	random := make([]byte, 70000)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	skewed := make([]byte, 100000)
	for i := range skewed {
		skewed[i] = "abcdefgh"[rng.IntN(8)]
	}
	inputs := map[string][][]byte{
		"text":   {text[:100], text[100:5000], text[5000:]},
		"random": {random},
		"skewed": {skewed[:1], skewed[1:40000], skewed[40000:]},
		"empty":  {{}, []byte("x"), {}},
	}
	for name, chunks := range inputs {
		want := bytes.Join(chunks, nil)
		for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.BestCompression} {
			z := deflateChunks(t, level, chunks)
			for _, size := range []int{1, 7, 4096, 1 << 20} {
				f := newInflater(bufio.NewReader(bytes.NewReader(z)))
				got, err := io.ReadAll(bufio.NewReaderSize(f, max(size, 16)))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("%s level %d read %d: %d bytes (want %d), err %v", name, level, size, len(got), len(want), err)
				}
			}
		}
	}
}

// bitWriter packs bits least significant first (RFC 1951 3.1.1).
type bitWriter struct {
	out  []byte
	bits uint32
	nb   uint
}

func (b *bitWriter) put(v uint32, n uint) {
	b.bits |= v << b.nb
	b.nb += n
	for b.nb >= 8 {
		b.out = append(b.out, byte(b.bits))
		b.bits >>= 8
		b.nb -= 8
	}
}

// putCode writes a Huffman code most significant bit first.
func (b *bitWriter) putCode(code uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		b.put(code>>uint(i)&1, 1)
	}
}

// fixedBlock writes a non-final fixed-code block of literals 0-143 and its end code.
func (b *bitWriter) fixedBlock(s string) {
	b.put(0b010, 3) // BFINAL 0, BTYPE 01
	for i := 0; i < len(s); i++ {
		b.putCode(0x30+uint32(s[i]), 8)
	}
	b.putCode(0, 7) // 256, end of block
}

// TestInflatePartialFlush: a command closed by zlib's Z_PARTIAL_FLUSH (a data block,
// then an empty fixed-code block whose last bits stay in the sender until more data
// comes), as mbsync sends, is handed out at once, without waiting for more input.
func TestInflatePartialFlush(t *testing.T) {
	var b bitWriter
	b.fixedBlock("3 NAMESPACE\r\n")
	b.put(0b010, 3) // the empty fixed block of the partial flush
	b.putCode(0, 7)
	pr, pw := io.Pipe()
	f := newInflater(bufio.NewReader(pr))
	got := make(chan string, 1)
	go func() {
		r := bufio.NewReader(f)
		l, err := r.ReadString('\n')
		if err != nil {
			l = "error: " + err.Error()
		}
		got <- l
	}()
	if _, err := pw.Write(b.out); err != nil { // whole bytes only: a few bits stay behind
		t.Fatal(err)
	}
	if l := <-got; l != "3 NAMESPACE\r\n" {
		t.Fatalf("got %q", l)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInflateCorrupt: malformed streams are errors, not panics or loops.
func TestInflateCorrupt(t *testing.T) {
	for name, z := range map[string][]byte{
		"reserved block type": {0x07},
		"stored length check": {0x01, 0x05, 0x00, 0x00, 0x00},
		"distance too far":    {0x62, 0x00, 0x02, 0x00}, // fixed block: a match at the start
		"truncated":           deflateChunks(t, flate.BestSpeed, [][]byte{[]byte("hello hello hello")})[:5],
	} {
		_, err := io.ReadAll(newInflater(bufio.NewReader(bytes.NewReader(z))))
		if err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

// FuzzInflate: for any input that compress/flate decodes to the end, the inflater
// decodes the same bytes; for any other input it returns an error without panicking.
func FuzzInflate(f *testing.F) {
	f.Add(deflateChunks(f, flate.BestSpeed, [][]byte{[]byte("a1 NOOP\r\n"), []byte("a2 NOOP\r\n")}))
	f.Add(deflateChunks(f, flate.HuffmanOnly, [][]byte{[]byte("abcabcabc")}))
	f.Add(deflateChunks(f, flate.NoCompression, [][]byte{[]byte("stored")}))
	f.Add(deflateChunks(f, flate.BestCompression, [][]byte{bytes.Repeat([]byte("xyz"), 300)}))
	f.Fuzz(func(t *testing.T, z []byte) {
		want, werr := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
		got, gerr := io.ReadAll(io.LimitReader(newInflater(bufio.NewReader(bytes.NewReader(z))), 1<<24))
		if werr == nil && (gerr != nil || !bytes.Equal(got, want)) {
			t.Fatalf("flate decodes %d bytes, inflater %d bytes, err %v", len(want), len(got), gerr)
		}
	})
}
