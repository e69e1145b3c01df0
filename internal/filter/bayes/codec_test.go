package bayes

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	ctx := context.Background()
	corpus := generateCorpus(6, 60)
	src := NewMemStore()
	train(t, New(src, Options{}), corpus)
	if err := src.Add(ctx, []string{"saturated"}, 1<<40, 0); err != nil { // counts saturate
		t.Fatal(err)
	}
	data, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dst := NewMemStore()
	if err := dst.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	again, err := dst.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Fatal("re-serialised store differs")
	}
	toks := make([]string, 0, len(src.tokens))
	for tok := range src.tokens {
		toks = append(toks, tok)
	}
	a, _ := src.Get(ctx, toks)
	b, _ := dst.Get(ctx, toks)
	ta, _ := src.Totals(ctx)
	tb, _ := dst.Totals(ctx)
	if !slices.Equal(a, b) || ta != tb || dst.Len() != src.Len() {
		t.Fatal("counts differ after round trip")
	}
	raw := 0
	for _, tok := range toks {
		raw += len(tok)
	}
	t.Logf("%d tokens (%d bytes of token text) serialise to %d bytes, %.1f bytes per token",
		len(toks), raw, len(data), float64(len(data))/float64(len(toks)))

	empty, err := NewMemStore().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.UnmarshalBinary(empty); err != nil || dst.Len() != 0 {
		t.Fatalf("empty store: %v, %d tokens", err, dst.Len())
	}
}

// TestCodecCorrupt: every damaged form is refused with ErrCorrupt and leaves the store as
// it was.
func TestCodecCorrupt(t *testing.T) {
	ctx := context.Background()
	src := NewMemStore()
	if err := src.Add(ctx, []string{"alpha", "alphabet", "beta"}, 1, 0); err != nil {
		t.Fatal(err)
	}
	data, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":     {},
		"magic":     append([]byte("XGB\x01"), data[4:]...),
		"truncated": data[:len(data)-1],
		"trailing":  append(slices.Clone(data), 0),
	}
	for i := 4; i < len(data); i++ {
		flipped := slices.Clone(data)
		flipped[i] ^= 0x20
		cases["flip"+string(rune('a'+i%26))+string(rune('0'+i/26))] = flipped
	}
	for name, bad := range cases {
		dst := NewMemStore()
		if err := dst.Add(ctx, []string{"keep"}, 0, 1); err != nil {
			t.Fatal(err)
		}
		err := dst.UnmarshalBinary(bad)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
		if c, _ := dst.Get(ctx, []string{"keep"}); dst.Len() != 1 || c[0] != (Counts{Ham: 1}) {
			t.Errorf("%s: store changed by a failed load", name)
		}
	}
}
