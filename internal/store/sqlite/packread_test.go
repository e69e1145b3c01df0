package sqlite

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"

	"mailgrid/internal/store"
)

// TestPackReaders: blobs of one pack share its read file, a pack beyond maxPackReaders
// evicts an idle file or, when every file is being read, gets its own, and a blob read
// across the store's close still reads its bytes.
func TestPackReaders(t *testing.T) {
	dir := t.TempDir()
	p := newPacks(dir, 1<<20, slog.New(slog.DiscardHandler))
	const packsN = maxPackReaders + 2
	for n := int64(1); n <= packsN; n++ {
		if err := os.WriteFile(p.path(n), fmt.Appendf(nil, "pack-%02d-body", n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(b store.Blob) string {
		t.Helper()
		got, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}
	open := func(n int64) *blob {
		t.Helper()
		b, err := p.open(blobLoc{pack: n, off: 5, len: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := read(b), fmt.Sprintf("%02d", n); got != want {
			t.Fatalf("pack %d: read %q, want %q", n, got, want)
		}
		return b.(*blob)
	}
	// The committer moving to another pack closes its append file, not the read files.
	for _, n := range []int64{1, 2} {
		if err := p.use(n); err != nil {
			t.Fatal(err)
		}
	}
	a, b := open(1), open(1)
	if a.pf != b.pf || !a.pf.kept || a.pf.refs != 2 {
		t.Fatalf("two blobs of pack 1: files %p %p, kept %v, refs %d; want one kept file, 2 refs", a.pf, b.pf, a.pf.kept, a.pf.refs)
	}
	// Every kept file in use: the packs beyond the bound get files of their own.
	var held []*blob
	for n := int64(2); n <= packsN; n++ {
		held = append(held, open(n))
	}
	own := held[len(held)-1]
	if own.pf.kept || len(p.readers.files) != maxPackReaders {
		t.Fatalf("pack %d kept %v with %d files open; want a file of its own at the bound", packsN, own.pf.kept, len(p.readers.files))
	}
	for _, h := range append(held, a, b) {
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil { // twice: harmless
		t.Fatal(err)
	}
	if _, err := own.pf.f.Stat(); err == nil {
		t.Fatal("a file of its own stayed open after its blob closed")
	}
	// Idle files now: a new pack evicts one and is kept.
	again := open(packsN)
	if !again.pf.kept || len(p.readers.files) != maxPackReaders {
		t.Fatalf("pack %d not kept after an eviction (%d files)", packsN, len(p.readers.files))
	}
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	if got := read(again); got != fmt.Sprintf("%02d", packsN) {
		t.Fatalf("blob read across close: %q", got)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := again.pf.f.Stat(); err == nil {
		t.Fatal("a file read across close stayed open after its blob closed")
	}
	if b := open(3); b.pf.kept || b.Close() != nil {
		t.Fatal("after close, a blob's file must be its own")
	}
}
