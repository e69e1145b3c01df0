package pgkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Chunks names a table that stores bodies as bytea rows (Key, seq, data): the body of a
// key is rows seq 0, 1, ... of Size octets each, the last one shorter. Chunking lets a
// body of any size be written with one chunk in memory and read back one chunk per query.
type Chunks struct {
	Table string // the table; its columns are Key, seq and data
	Key   string // the column naming the body
	Size  int64  // octets per chunk
}

// Source is a body to store: its octets and their number.
type Source interface {
	io.ReaderAt
	Size() int64
}

// InsertSQL is the statement that stores one chunk, with parameters key, seq and data
// (for a driver that sends the first chunk in a batch with its other rows).
func (c Chunks) InsertSQL() string {
	return `INSERT INTO ` + c.Table + ` (` + c.Key + `, seq, data) VALUES ($1, $2, $3)`
}

// ReadChunk reads chunk seq of src into buf (at least Size octets, or the body's size when
// smaller) and returns its length.
func (c Chunks) ReadChunk(src Source, buf []byte, seq int64) (int, error) {
	off := seq * c.Size
	want := int(min(c.Size, src.Size()-off))
	n, err := src.ReadAt(buf[:want], off)
	if n == want {
		return n, nil // io.ReaderAt may report io.EOF with the last octets
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, fmt.Errorf("read body at %d: %w", off, err)
}

// Write stores the chunks of src from chunk from on, in tx, under key. buf holds one
// chunk (nil allocates it).
func (c Chunks) Write(ctx context.Context, tx pgx.Tx, key any, src Source, from int64, buf []byte) error {
	if buf == nil {
		buf = make([]byte, min(c.Size, src.Size()))
	}
	for seq := from; seq*c.Size < src.Size(); seq++ {
		n, err := c.ReadChunk(src, buf, seq)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, c.InsertSQL(), key, seq, buf[:n]); err != nil {
			return fmt.Errorf("store chunk %d: %w", seq, err)
		}
	}
	return nil
}

// Querier runs a query returning one row: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Reader reads a stored body chunk by chunk. ReadAt is safe for concurrent use (as
// io.ReaderAt requires); the one cached chunk is guarded by mu. It implements store.Blob
// and filter.HeldBody.
type Reader struct {
	ctx     context.Context
	db      Querier
	c       Chunks
	key     any
	size    int64
	name    string
	missing error

	mu     sync.Mutex
	cached int64  // index of the chunk in data, -1 for none
	data   []byte // that chunk
	closed bool
}

// Reader returns a reader of the size octets stored under key. Its queries run on db
// with ctx, so ctx must outlive the reads. name starts its error messages ("queue: body
// of X"); a chunk that is gone (the body was deleted while open) gives an error wrapping
// missing.
func (c Chunks) Reader(ctx context.Context, db Querier, key any, size int64, name string, missing error) *Reader {
	return &Reader{ctx: ctx, db: db, c: c, key: key, size: size, name: name, missing: missing, cached: -1}
}

// SetFirst caches chunk 0, fetched by the caller with the query that found the body;
// nil or the wrong length means the body is not (all) stored, an error wrapping missing.
func (r *Reader) SetFirst(data []byte) error {
	if want := min(r.c.Size, r.size); int64(len(data)) != want {
		return fmt.Errorf("%s: %d of %d octets stored: %w", r.name, len(data), want, r.missing)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cached, r.data = 0, data
	return nil
}

// Preload fetches chunk 0 now when it is the whole body (most mail), so that an Open
// reports a missing body and later reads cost no query.
func (r *Reader) Preload() error {
	if r.size == 0 || r.size > r.c.Size {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.chunk(0)
	return err
}

// Size is the body's length.
func (r *Reader) Size() int64 { return r.size }

// Close drops the cached chunk; later reads fail.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("%s: already closed", r.name)
	}
	r.closed, r.data, r.cached = true, nil, -1
	return nil
}

// ReadAt reads len(p) octets at off, or up to the end with io.EOF.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset %d", r.name, off)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("%s: read after close", r.name)
	}
	n := 0
	for n < len(p) && off+int64(n) < r.size {
		pos := off + int64(n)
		chunk, err := r.chunk(pos / r.c.Size)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], chunk[pos%r.c.Size:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// chunk returns chunk i, from the cache or the database. r.mu is held.
func (r *Reader) chunk(i int64) ([]byte, error) {
	if r.cached == i {
		return r.data, nil
	}
	var data []byte
	err := r.db.QueryRow(r.ctx, `SELECT data FROM `+r.c.Table+` WHERE `+r.c.Key+` = $1 AND seq = $2`, r.key, i).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%s, chunk %d: %w", r.name, i, r.missing)
	}
	if err != nil {
		return nil, fmt.Errorf("%s, chunk %d: %w", r.name, i, err)
	}
	if want := min(r.c.Size, r.size-i*r.c.Size); int64(len(data)) != want {
		return nil, fmt.Errorf("%s, chunk %d: %d octets, want %d", r.name, i, len(data), want)
	}
	r.cached, r.data = i, data
	return data, nil
}
