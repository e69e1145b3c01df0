package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

// Hold implements filter.QuarantineStore: the body is read once for its sha256, then one
// transaction locks (or creates) its held_bodies row, writes its chunks when it is new,
// and inserts one quarantine row per entry.
func (d *DB) Hold(ctx context.Context, held []filter.Held, b body.Body) ([]filter.Held, error) {
	if len(held) == 0 {
		return nil, fmt.Errorf("%w: nothing to hold", filter.ErrInvalid)
	}
	h := sha256.New()
	if _, err := io.Copy(h, body.Reader(b)); err != nil {
		return nil, fmt.Errorf("filter/postgres: hold: read body: %w", err)
	}
	blob, size := hex.EncodeToString(h.Sum(nil)), b.Size()
	now := d.now().UTC().Truncate(time.Second)
	out := make([]filter.Held, len(held))
	err := d.tx(ctx, func(tx pgx.Tx) error {
		// xmax is 0 on a row this statement inserted; a conflict updates (and so locks)
		// the existing row, which Delete and Expire lock before removing it.
		var inserted bool
		if err := tx.QueryRow(ctx, `INSERT INTO held_bodies (id, size) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET size = excluded.size RETURNING xmax = 0`, blob, size).Scan(&inserted); err != nil {
			return dbErr("hold", err)
		}
		if inserted {
			if err := writeChunks(ctx, tx, blob, b); err != nil {
				return err
			}
		}
		for i, e := range held {
			e.BlobID, e.Size, e.Created = blob, size, now
			if err := tx.QueryRow(ctx, `INSERT INTO quarantine (domain, account, rcpt, sender, reason, mailet, size, created, blob)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
				e.Domain, e.Account, e.Rcpt.String(), e.From.String(), e.Reason, e.Mailet, size, now.Unix(), blob).Scan(&e.ID); err != nil {
				return dbErr("hold", err)
			}
			out[i] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// writeChunks stores b in chunks of ChunkSize, one chunk in memory at a time.
func writeChunks(ctx context.Context, tx pgx.Tx, blob string, b body.Body) error {
	buf := make([]byte, min(ChunkSize, max(b.Size(), 1)))
	for seq, off := 0, int64(0); off < b.Size(); seq, off = seq+1, off+ChunkSize {
		n, err := b.ReadAt(buf[:min(ChunkSize, b.Size()-off)], off)
		if err != nil && !(errors.Is(err, io.EOF) && int64(n) == min(ChunkSize, b.Size()-off)) {
			return fmt.Errorf("filter/postgres: hold: read body: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO held_chunks (body, seq, data) VALUES ($1, $2, $3)`, blob, seq, buf[:n]); err != nil {
			return dbErr("hold", err)
		}
	}
	return nil
}

const heldColumns = `id, domain, account, rcpt, sender, reason, mailet, size, created, blob`

// List implements filter.QuarantineStore.
func (d *DB) List(ctx context.Context, q filter.QuarantineQuery) ([]filter.Held, error) {
	where, args := []string{"true"}, []any{}
	if q.Domain != "" {
		args = append(args, q.Domain)
		where = append(where, "domain = $"+strconv.Itoa(len(args)))
	}
	if q.Account != 0 {
		args = append(args, q.Account)
		where = append(where, "account = $"+strconv.Itoa(len(args)))
	}
	limit := ""
	if q.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(q.Limit)
	}
	rows, err := d.pool.Query(ctx, `SELECT `+heldColumns+` FROM quarantine WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC`+limit, args...)
	if err != nil {
		return nil, dbErr("quarantine list", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (filter.Held, error) { return scanHeld(r) })
	if err != nil {
		return nil, dbErr("quarantine list", err)
	}
	return out, nil
}

func scanHeld(s pgx.Row) (filter.Held, error) {
	var h filter.Held
	var rcpt, from string
	var created int64
	if err := s.Scan(&h.ID, &h.Domain, &h.Account, &rcpt, &from, &h.Reason, &h.Mailet, &h.Size, &created, &h.BlobID); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return h, filter.ErrNotFound
		}
		return h, err
	}
	h.Created = time.Unix(created, 0).UTC()
	h.Rcpt, _ = mail.Parse(rcpt) // written from a parsed address; "" stays zero
	h.From, _ = mail.Parse(from)
	return h, nil
}

// Get implements filter.QuarantineStore.
func (d *DB) Get(ctx context.Context, domain string, id int64) (filter.Held, error) {
	h, err := scanHeld(d.pool.QueryRow(ctx, `SELECT `+heldColumns+` FROM quarantine WHERE domain = $1 AND id = $2`, domain, id))
	if err != nil && !errors.Is(err, filter.ErrNotFound) {
		err = dbErr("quarantine", err)
	}
	return h, err
}

// Open implements filter.QuarantineStore. The body's reads run with ctx, so ctx must
// outlive them. A body of one chunk, most mail, is fetched here.
func (d *DB) Open(ctx context.Context, domain string, id int64) (filter.HeldBody, error) {
	h, err := d.Get(ctx, domain, id)
	if err != nil {
		return nil, err
	}
	hb := &heldBody{ctx: ctx, pool: d.pool, id: h.BlobID, size: h.Size, cached: -1}
	if h.Size > 0 && h.Size <= ChunkSize {
		hb.mu.Lock()
		_, err := hb.chunk(0)
		hb.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	return hb, nil
}

// heldBody reads a held body chunk by chunk (filter.HeldBody). ReadAt is safe for
// concurrent use (as io.ReaderAt requires); the one cached chunk is guarded by mu.
type heldBody struct {
	ctx  context.Context
	pool *pgxpool.Pool
	id   string
	size int64

	mu     sync.Mutex
	cached int64  // index of the chunk in data, -1 for none
	data   []byte // that chunk
	closed bool
}

func (b *heldBody) Size() int64 { return b.size }

// Close drops the cached chunk; later reads fail.
func (b *heldBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("filter/postgres: held body already closed")
	}
	b.closed, b.data, b.cached = true, nil, -1
	return nil
}

// ReadAt reads len(p) octets at off, or up to the end with io.EOF.
func (b *heldBody) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("filter/postgres: held body %s: negative offset %d", b.id, off)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, fmt.Errorf("filter/postgres: held body %s: read after close", b.id)
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
func (b *heldBody) chunk(i int64) ([]byte, error) {
	if b.cached == i {
		return b.data, nil
	}
	var data []byte
	err := b.pool.QueryRow(b.ctx, `SELECT data FROM held_chunks WHERE body = $1 AND seq = $2`, b.id, i).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		// Every copy was deleted while the body was open.
		return nil, fmt.Errorf("filter/postgres: held body %s, chunk %d: %w", b.id, i, filter.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("filter/postgres: held body %s, chunk %d: %w", b.id, i, err)
	}
	if want := min(ChunkSize, b.size-i*ChunkSize); int64(len(data)) != want {
		return nil, fmt.Errorf("filter/postgres: held body %s, chunk %d: %d octets, want %d", b.id, i, len(data), want)
	}
	b.cached, b.data = i, data
	return data, nil
}

// Delete implements filter.QuarantineStore: the row, and its body when no other copy
// holds it, in one transaction.
func (d *DB) Delete(ctx context.Context, domain string, id int64) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		var blob string
		err := tx.QueryRow(ctx, `DELETE FROM quarantine WHERE domain = $1 AND id = $2 RETURNING blob`, domain, id).Scan(&blob)
		if errors.Is(err, pgx.ErrNoRows) {
			return filter.ErrNotFound
		}
		if err != nil {
			return dbErr("quarantine delete", err)
		}
		return dropUnused(ctx, tx, []string{blob})
	})
}

// Expire implements filter.QuarantineStore: the old rows and the bodies no copy holds any
// more, in one transaction.
func (d *DB) Expire(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := d.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM quarantine WHERE created < $1 RETURNING blob`, before.Unix())
		if err != nil {
			return dbErr("quarantine expire", err)
		}
		blobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbErr("quarantine expire", err)
		}
		n = len(blobs)
		return dropUnused(ctx, tx, blobs)
	})
	return n, err
}

// dropUnused removes the held bodies of blobs no quarantine row references. It first
// locks the bodies (in id order, so two removers cannot deadlock), waiting for a Hold
// that is adding a copy of one; the DELETE, a new statement, then sees that copy.
func dropUnused(ctx context.Context, tx pgx.Tx, blobs []string) error {
	if len(blobs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM held_bodies WHERE id = ANY($1) ORDER BY id FOR UPDATE`, blobs); err != nil {
		return dbErr("held body lock", err)
	}
	_, err := tx.Exec(ctx, `DELETE FROM held_bodies b WHERE b.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.blob = b.id)`, blobs)
	return dbErr("held body delete", err)
}
