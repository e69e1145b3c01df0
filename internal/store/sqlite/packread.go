package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"mailgrid/internal/store"
)

// Reading blobs. Packs are append-only and never rewritten (doc.go: compaction is not
// written; when it is, it must drop a pack's read file before deleting the pack), and a
// committed blob's bytes were synced before its row, so one read-only file per pack serves
// every blob of it, read with pread (io.SectionReader), shared by concurrent readers. A
// FETCH then costs no open(2) and close(2). At most maxPackReaders files stay open: a pack
// needed beyond that closes an idle one, or gets a file of its own when none is idle.

// maxPackReaders bounds the pack files kept open for reading.
const maxPackReaders = 16

// packReaders is the set of pack files open for reading.
type packReaders struct {
	mu     sync.Mutex
	files  map[int64]*packFile
	closed bool
}

// packFile is a pack open for reading and the blobs reading it.
type packFile struct {
	f    *os.File
	refs int
	kept bool // in packReaders.files; otherwise closed by its last blob
}

// open returns the blob at loc as a store.Blob reading the pack file.
func (p *packs) open(loc blobLoc) (store.Blob, error) {
	pf, evicted, err := p.readers.acquire(loc.pack, p.path(loc.pack))
	if evicted != nil {
		if err := evicted.f.Close(); err != nil {
			p.log.Warn("sqlite store: close pack read file", "err", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pack %d: %w", loc.pack, err)
	}
	return &blob{SectionReader: io.NewSectionReader(pf.f, loc.off, loc.len), rs: &p.readers, pf: pf}, nil
}

// acquire returns pack num's read file with one more reference, and an idle file it
// evicted to keep it, for the caller to close.
func (r *packReaders) acquire(num int64, path string) (pf, evicted *packFile, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if pf, ok := r.files[num]; ok {
		pf.refs++
		return pf, nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	pf = &packFile{f: f, refs: 1}
	if r.closed {
		return pf, nil, nil // a file of its own
	}
	if len(r.files) >= maxPackReaders {
		if evicted = r.idle(); evicted == nil {
			return pf, nil, nil // every kept file is being read: a file of its own
		}
	}
	if r.files == nil {
		r.files = map[int64]*packFile{}
	}
	pf.kept = true
	r.files[num] = pf
	return pf, evicted, nil
}

// idle takes an idle file out of the set; nil if every file is being read.
func (r *packReaders) idle() *packFile {
	for num, pf := range r.files {
		if pf.refs == 0 {
			delete(r.files, num)
			pf.kept = false
			return pf
		}
	}
	return nil
}

// release drops a blob's reference; a file no longer kept closes with its last blob.
func (r *packReaders) release(pf *packFile) error {
	r.mu.Lock()
	pf.refs--
	last := pf.refs == 0 && !pf.kept
	r.mu.Unlock()
	if last {
		return pf.f.Close()
	}
	return nil
}

// close closes the idle files; the others close with their last blob.
func (r *packReaders) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for num, pf := range r.files {
		delete(r.files, num)
		pf.kept = false
		if pf.refs == 0 {
			errs = append(errs, pf.f.Close())
		}
	}
	return errors.Join(errs...)
}

// blob is an open body: a section of a pack file.
type blob struct {
	*io.SectionReader
	rs   *packReaders
	pf   *packFile
	once sync.Once
}

// Close releases the blob's pack file; closing twice is harmless.
func (b *blob) Close() error {
	var err error
	b.once.Do(func() { err = b.rs.release(b.pf) })
	return err
}
