package sqlite

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mailgrid/internal/store"
)

// packDir is the directory of pack files inside the shard directory.
const packDir = "packs"

// packs is the append-only blob store: numbered pack files holding message bodies back to
// back. Only the committer appends, and only while it holds SQLite's write lock, so the
// end of the current pack (taken with fstat, not cached) is the same for every process.
type packs struct {
	dir   string
	limit int64
	log   *slog.Logger

	// The pack being appended to; owned by the committer goroutine.
	cur    *os.File
	curNum int64

	// syncFile makes a pack's written bytes durable: fdatasync. A field so tests can make
	// it fail; set it before the first job.
	syncFile func(f *os.File) error

	readers packReaders // pack files open for reading blobs
}

func newPacks(dir string, limit int64, log *slog.Logger) *packs {
	return &packs{dir: dir, limit: limit, log: log, syncFile: fdatasync}
}

func (p *packs) path(num int64) string {
	return filepath.Join(p.dir, fmt.Sprintf("%08d.pack", num))
}

// close closes the current pack and the idle read files (one still read from closes when
// its last blob does): the store is closing.
func (p *packs) close() error {
	return errors.Join(p.readers.close(), p.closeCur())
}

// closeCur closes the current pack.
func (p *packs) closeCur() error {
	if p.cur == nil {
		return nil
	}
	err := p.cur.Close()
	p.cur = nil
	return err
}

// blobLoc is where a body lives.
type blobLoc struct {
	pack, off, len int64
}

// appender appends the bodies of one batch. Create it with packs.appender while holding
// the write lock; call sync before committing rows that point at what it wrote.
type appender struct {
	p     *packs
	num   int64 // pack being written; may advance on rotation
	off   int64 // its end
	dirty bool
	buf   []byte
}

// appender starts a batch at pack num, the current pack according to the database.
func (p *packs) appender(num int64) (*appender, error) {
	if err := p.use(num); err != nil {
		return nil, err
	}
	fi, err := p.cur.Stat()
	if err != nil {
		return nil, fmt.Errorf("pack %d: %w", num, err)
	}
	return &appender{p: p, num: num, off: fi.Size()}, nil
}

// use makes pack num the current pack, creating it (and making its directory entry
// durable) if it does not exist.
func (p *packs) use(num int64) error {
	if p.cur != nil && p.curNum == num {
		return nil
	}
	if err := p.closeCur(); err != nil {
		p.log.Error("sqlite store: close pack", "pack", p.curNum, "err", err)
	}
	path := p.path(num)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("pack %d: %w", num, err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(p.dir); err != nil {
			return errors.Join(fmt.Errorf("pack %d: %w", num, err), f.Close())
		}
	}
	p.cur, p.curNum = f, num
	return nil
}

// append writes body at the end of the current pack, rotating first if the pack would
// grow past the limit (a body larger than the limit gets a pack of its own).
func (a *appender) append(body store.Body) (blobLoc, error) {
	size := body.Size()
	if a.off > 0 && a.off+size > a.p.limit {
		if err := a.rotate(); err != nil {
			return blobLoc{}, err
		}
	}
	if int64(len(a.buf)) < min(size, 256<<10) { // sized to the bodies seen: a batch of small ones needs no 256 KiB
		a.buf = make([]byte, max(min(size, 256<<10), 4<<10))
	}
	w := io.NewOffsetWriter(a.p.cur, a.off)
	n, err := io.CopyBuffer(w, io.NewSectionReader(body, 0, size), a.buf)
	if err == nil && n != size {
		err = fmt.Errorf("body shorter than its size: %d < %d", n, size)
	}
	a.dirty = true
	if err != nil {
		return blobLoc{}, fmt.Errorf("pack %d: append: %w", a.num, err)
	}
	loc := blobLoc{pack: a.num, off: a.off, len: size}
	a.off += size
	return loc, nil
}

// rotate syncs the current pack and moves to the next one.
func (a *appender) rotate() error {
	if err := a.sync(); err != nil {
		return err
	}
	if err := a.p.use(a.num + 1); err != nil {
		return err
	}
	fi, err := a.p.cur.Stat()
	if err != nil {
		return fmt.Errorf("pack %d: %w", a.num+1, err)
	}
	a.num, a.off = a.num+1, fi.Size()
	return nil
}

// sync makes everything appended so far durable.
func (a *appender) sync() error {
	if !a.dirty {
		return nil
	}
	if err := a.p.syncFile(a.p.cur); err != nil {
		return fmt.Errorf("pack %d: fdatasync: %w", a.num, err)
	}
	a.dirty = false
	return nil
}

// startSync starts making everything appended so far durable and returns the wait for
// it. Until the wait returns, nothing may be appended and the pack not rotated or closed:
// the sync runs on the current file in another goroutine, while the committer runs the
// batch's statements (which do not touch the pack).
func (a *appender) startSync() (wait func() error) {
	if !a.dirty {
		return func() error { return nil }
	}
	f, num, syncFile := a.p.cur, a.num, a.p.syncFile
	done := make(chan error, 1)
	go func() { done <- syncFile(f) }()
	return func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("pack %d: fdatasync: %w", num, err)
		}
		a.dirty = false
		return nil
	}
}

// fdatasync flushes f's data (and the metadata needed to read it, such as its size).
func fdatasync(f *os.File) error {
	return unix.Fdatasync(int(f.Fd()))
}

// syncDir fsyncs a directory so a new entry in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
