package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// OpenBody opens an item's body. Its reads run with ctx, so ctx must outlive them (the
// scheduler opens, reads and closes under one delivery's context). A body of one chunk
// is fetched here, in the same statement that checks the item.
func (q *Queue) OpenBody(ctx context.Context, id string) (store.Blob, error) {
	b := &blob{ctx: ctx, pool: q.pool, id: id, cached: -1}
	var first []byte
	err := q.pool.QueryRow(ctx, `SELECT i.size,
		(SELECT c.data FROM body_chunks c WHERE c.item_id = i.id AND c.seq = 0 AND i.size <= $2)
		FROM items i WHERE i.id = $1`, id, ChunkSize).Scan(&b.size, &first)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("queue: open body of %s: %w", id, err)
	}
	if b.size > 0 && b.size <= ChunkSize {
		if int64(len(first)) != b.size {
			return nil, fmt.Errorf("queue: body of %s: %d of %d octets stored: %w", id, len(first), b.size, queue.ErrNotFound)
		}
		b.cached, b.data = 0, first
	}
	return b, nil
}

// blob reads a body chunk by chunk (store.Blob). ReadAt is safe for concurrent use (as
// io.ReaderAt requires); the one cached chunk is guarded by mu.
type blob struct {
	ctx  context.Context
	pool *pgxpool.Pool
	id   string
	size int64

	mu     sync.Mutex
	cached int64  // index of the chunk in data, -1 for none
	data   []byte // that chunk
	closed bool
}

func (b *blob) Size() int64 { return b.size }

// Close drops the cached chunk; later reads fail.
func (b *blob) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("queue: body already closed")
	}
	b.closed, b.data, b.cached = true, nil, -1
	return nil
}

// ReadAt reads len(p) octets at off, or up to the end with io.EOF.
func (b *blob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("queue: body of %s: negative offset %d", b.id, off)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, fmt.Errorf("queue: body of %s: read after close", b.id)
	}
	n := 0
	for n < len(p) && off+int64(n) < b.size {
		pos := off + int64(n)
		chunk, err := b.chunk(pos / ChunkSize)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], chunk[pos%ChunkSize:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// chunk returns chunk i, from the cache or the database. b.mu is held.
func (b *blob) chunk(i int64) ([]byte, error) {
	if b.cached == i {
		return b.data, nil
	}
	var data []byte
	err := b.pool.QueryRow(b.ctx, `SELECT data FROM body_chunks WHERE item_id = $1 AND seq = $2`, b.id, i).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		// The item was dropped or finished while the body was open.
		return nil, fmt.Errorf("queue: body of %s, chunk %d: %w", b.id, i, queue.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: body of %s, chunk %d: %w", b.id, i, err)
	}
	if want := min(ChunkSize, b.size-i*ChunkSize); int64(len(data)) != want {
		return nil, fmt.Errorf("queue: body of %s, chunk %d: %d octets, want %d", b.id, i, len(data), want)
	}
	b.cached, b.data = i, data
	return data, nil
}
