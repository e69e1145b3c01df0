package pgkit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/pgkit"
	"mailgrid/internal/testkit/pgtest"
)

var errMissing = errors.New("missing")

// chunkTable creates a table of 7-octet chunks (small, so a few octets span many).
func chunkTable(t *testing.T) (pgkit.Chunks, *pgxpool.Pool) {
	t.Helper()
	pool := connect(t, pgtest.DSN(t), "public")
	if _, err := pool.Exec(t.Context(), `CREATE TABLE parts (body text NOT NULL, seq integer NOT NULL,
		data bytea NOT NULL, PRIMARY KEY (body, seq))`); err != nil {
		t.Fatal(err)
	}
	return pgkit.Chunks{Table: "parts", Key: "body", Size: 7}, pool
}

// src is a body: a byte slice whose ReadAt may stop short after limit octets.
type src struct {
	b     []byte
	limit int64
}

func (s src) Size() int64 { return int64(len(s.b)) }

func (s src) ReadAt(p []byte, off int64) (int, error) {
	end := min(int64(len(s.b)), s.limit, off+int64(len(p)))
	if off >= end {
		return 0, io.EOF
	}
	n := copy(p, s.b[off:end])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func body(n int) src {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return src{b: b, limit: int64(n)}
}

func write(ctx context.Context, pool *pgxpool.Pool, c pgkit.Chunks, key string, s src) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return c.Write(ctx, tx, key, s, 0, nil) })
}

func rowCount(t *testing.T, pool *pgxpool.Pool, key string) int {
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM parts WHERE body = $1`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkRead reads [off, off+n) and compares octets and io.EOF with want.
func checkRead(r io.ReaderAt, want []byte, off, n int) error {
	p := make([]byte, n)
	got, err := r.ReadAt(p, int64(off))
	exp := max(0, min(n, len(want)-off))
	if got != exp || (exp > 0 && !bytes.Equal(p[:got], want[off:off+exp])) {
		return fmt.Errorf("ReadAt(%d, %d) = %d %q, want %d", n, off, got, p[:got], exp)
	}
	if (exp < n) != errors.Is(err, io.EOF) || (err != nil && !errors.Is(err, io.EOF)) {
		return fmt.Errorf("ReadAt(%d, %d): error %v", n, off, err)
	}
	return nil
}

// Bodies of every size around the chunk size are stored in ceil(size/7) rows and read
// back whole and by random ranges, with io.EOF exactly when a read reaches past the end.
func TestChunksRoundTrip(t *testing.T) {
	c, pool := chunkTable(t)
	for _, size := range []int{0, 1, 6, 7, 8, 14, 30} {
		key := fmt.Sprint("b", size)
		s := body(size)
		if err := write(t.Context(), pool, c, key, s); err != nil {
			t.Fatal(err)
		}
		if n := rowCount(t, pool, key); n != (size+6)/7 {
			t.Errorf("size %d: %d rows", size, n)
		}
		r := c.Reader(t.Context(), pool, key, int64(size), "body "+key, errMissing)
		if err := r.Preload(); err != nil {
			t.Fatal(err)
		}
		if r.Size() != int64(size) {
			t.Fatalf("Size %d, want %d", r.Size(), size)
		}
		all, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
		if err != nil || !bytes.Equal(all, s.b) {
			t.Fatalf("size %d: read %q, %v", size, all, err)
		}
		for range 50 {
			if err := checkRead(r, s.b, rand.IntN(size+3), rand.IntN(20)); err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// ReadAt is safe for concurrent use: goroutines reading random ranges of one Reader
// (each read moving the one cached chunk) all see the right octets.
func TestChunksConcurrentReads(t *testing.T) {
	c, pool := chunkTable(t)
	s := body(40)
	if err := write(t.Context(), pool, c, "k", s); err != nil {
		t.Fatal(err)
	}
	r := c.Reader(t.Context(), pool, "k", s.Size(), "body k", errMissing)
	defer func() { _ = r.Close() }()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			for range 40 {
				if err := checkRead(r, s.b, rand.IntN(42), rand.IntN(16)); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// A body deleted while open reads as the driver's missing error from the first chunk not
// cached; a first chunk handed over by the caller is checked and then costs no query.
func TestChunksMissing(t *testing.T) {
	c, pool := chunkTable(t)
	s := body(20)
	if err := write(t.Context(), pool, c, "k", s); err != nil {
		t.Fatal(err)
	}
	r := c.Reader(t.Context(), pool, "k", s.Size(), "body k", errMissing)
	if err := r.SetFirst(s.b[:7]); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `DELETE FROM parts`); err != nil {
		t.Fatal(err)
	}
	if err := checkRead(r, s.b, 2, 5); err != nil {
		t.Fatalf("cached first chunk: %v", err)
	}
	if _, err := r.ReadAt(make([]byte, 5), 9); !errors.Is(err, errMissing) {
		t.Fatalf("read of a deleted chunk: %v", err)
	}
	if err := c.Reader(t.Context(), pool, "k", 5, "body k", errMissing).Preload(); !errors.Is(err, errMissing) {
		t.Fatalf("Preload of a deleted body: %v", err)
	}
	for _, first := range [][]byte{nil, s.b[:3]} {
		if err := c.Reader(t.Context(), pool, "k", 20, "body k", errMissing).SetFirst(first); !errors.Is(err, errMissing) {
			t.Fatalf("SetFirst(%q): %v", first, err)
		}
	}
}

// Bad offsets and use after Close are errors, not panics.
func TestChunksClose(t *testing.T) {
	c, pool := chunkTable(t)
	r := c.Reader(t.Context(), pool, "none", 0, "body none", errMissing)
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Fatal("negative offset read")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 1), 0); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("read after close: %v", err)
	}
	if err := r.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
}

// A body that yields fewer octets than its size fails the write, and its transaction
// stores nothing.
func TestChunksShortSource(t *testing.T) {
	c, pool := chunkTable(t)
	s := body(20)
	s.limit = 16
	if err := write(t.Context(), pool, c, "k", s); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("write of a short body: %v", err)
	}
	if n := rowCount(t, pool, "k"); n != 0 {
		t.Fatalf("%d rows left", n)
	}
}
