package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// PartSize is the size of one blob_parts row: a body is stored as consecutive parts of
// PartSize bytes (the last one shorter). Writes stream a part at a time (COPY) and a Blob
// holds at most one part in memory.
const PartSize = 512 << 10

// blobFor returns the blob row of b's content, locked FOR KEY SHARE so it cannot be
// collected before this transaction commits (lock order step 1). A body the shard does
// not hold yet is stored (fresh): its row with a reference count of 0, then its parts.
func (w *wtx) blobFor(b *body) (id int64, fresh bool, err error) {
	for range 3 {
		err := w.row(`SELECT id FROM blobs WHERE sha256 = $1 FOR KEY SHARE`, b.sum[:]).Scan(&id)
		if err == nil {
			return id, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, false, fmt.Errorf("blob lookup: %w", err)
		}
		id, ok, err := w.insertBlob(b)
		if err != nil || ok {
			return id, ok, err
		}
		// A concurrent delivery stored the same content and committed while we waited
		// on the unique index: take its row.
	}
	return 0, false, errRetry
}

// insertBlobSQL inserts a blob row, with a reference count of 0, and its first part:
// $1 sha256, $2 size, $3 the first part. It returns no row if the content is there.
const insertBlobSQL = `WITH b AS (
		INSERT INTO blobs (sha256, size, refs, freed_at) VALUES ($1, $2, 0, now())
		ON CONFLICT (sha256) DO NOTHING RETURNING id)
	INSERT INTO blob_parts (blob, part, data) SELECT id, 0, $3 FROM b RETURNING blob`

// insertBlob inserts the blob row with its first part in one statement and streams the
// other parts with COPY. ok is false, and nothing is inserted, if another transaction
// stored the same content first.
func (w *wtx) insertBlob(b *body) (id int64, ok bool, err error) {
	size := b.Size()
	first := make([]byte, min(size, PartSize))
	if _, err := b.ReadAt(first, 0); err != nil && !errors.Is(err, io.EOF) {
		return 0, false, fmt.Errorf("read body: %w", err)
	}
	err = w.row(insertBlobSQL, b.sum[:], size, first).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("insert blob: %w", err)
	}
	if size > PartSize {
		src := &partSource{body: b.Body, blob: id, off: PartSize, buf: first[:0]}
		if _, err := w.copyFrom("blob_parts", []string{"blob", "part", "data"}, src); err != nil {
			return 0, false, fmt.Errorf("insert blob parts: %w", err)
		}
	}
	return id, true, nil
}

// partSource feeds COPY the parts of a body after the first, one buffer at a time (pgx
// encodes each row before asking for the next, so the buffer is reused).
type partSource struct {
	body store.Body
	blob int64
	off  int64
	buf  []byte
	part int32
	err  error
}

func (p *partSource) Next() bool {
	size := p.body.Size()
	if p.err != nil || p.off >= size {
		return false
	}
	n := min(size-p.off, PartSize)
	p.buf = p.buf[:n]
	if _, err := p.body.ReadAt(p.buf, p.off); err != nil && !(errors.Is(err, io.EOF) && p.off+n == size) {
		p.err = fmt.Errorf("read body at %d: %w", p.off, err)
		return false
	}
	p.off += n
	p.part++
	return true
}

func (p *partSource) Values() ([]any, error) { return []any{p.blob, p.part, p.buf}, nil }

func (p *partSource) Err() error { return p.err }

// OpenBlob implements store.Store. The Blob reads its parts on demand with ctx, holding
// at most one part in memory; close it when done.
func (s *Store) OpenBlob(ctx context.Context, acct store.AccountRef, messageID int64) (store.Blob, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	bl := &blob{s: s, ctx: ctx, part: -1}
	err := s.pool.QueryRow(ctx, `SELECT b.id, b.size FROM messages m
		JOIN mailboxes x ON x.id = m.mailbox JOIN blobs b ON b.id = m.blob
		WHERE m.id = $1 AND x.domain = $2 AND x.account = $3`, messageID, acct.Domain, acct.ID).Scan(&bl.id, &bl.size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("message %d", messageID)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return bl, nil
}

// blob is an open body: an io.ReaderAt over its parts with a cache of one part.
type blob struct {
	s    *Store
	ctx  context.Context
	id   int64
	size int64

	mu   sync.Mutex
	part int64 // index of the cached part, -1 for none
	data []byte
	max  int // the largest part read, for tests
}

func (b *blob) Size() int64 { return b.size }

// Close drops the cached part.
func (b *blob) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.part, b.data = -1, nil
	return nil
}

// ReadAt implements io.ReaderAt; it is safe for concurrent use.
func (b *blob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob %d: negative offset: %w", b.id, store.ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for n < len(p) && off < b.size {
		idx := off / PartSize
		data, err := b.load(idx)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], data[off-idx*PartSize:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// load returns part idx, from the cache or the database.
func (b *blob) load(idx int64) ([]byte, error) {
	if b.part == idx {
		return b.data, nil
	}
	if err := b.s.live(); err != nil {
		return nil, err
	}
	var data []byte
	err := b.s.pool.QueryRow(b.ctx, `SELECT data FROM blob_parts WHERE blob = $1 AND part = $2`, b.id, idx).Scan(&data)
	if err != nil {
		return nil, fmt.Errorf("blob %d part %d: %w", b.id, idx, err)
	}
	if want := min(PartSize, b.size-idx*PartSize); int64(len(data)) != want {
		return nil, fmt.Errorf("blob %d part %d: %d bytes, want %d", b.id, idx, len(data), want)
	}
	b.part, b.data = idx, data
	b.max = max(b.max, len(data))
	return data, nil
}

// CollectBlobs deletes up to limit bodies no message has referred to for at least grace,
// and returns how many it deleted. A body whose last message went is kept that long so
// that a Blob still being read (a FETCH in progress) stays readable and a redelivery of
// the same content revives it. Run it from a maintenance job; several nodes may run it
// at once.
func (s *Store) CollectBlobs(ctx context.Context, grace time.Duration, limit int) (int64, error) {
	if err := s.live(); err != nil {
		return 0, err
	}
	// refs = 0 is checked again on the locked row: a delivery reviving the blob wins.
	tag, err := s.pool.Exec(ctx, `DELETE FROM blobs WHERE id IN (
			SELECT id FROM blobs WHERE refs = 0 AND freed_at < now() - make_interval(secs => $1)
			ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
		AND refs = 0`, grace.Seconds(), limit)
	if err != nil {
		return 0, fmt.Errorf("collect blobs: %w", err)
	}
	return tag.RowsAffected(), nil
}
