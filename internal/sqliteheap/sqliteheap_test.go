package sqliteheap

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"
)

// fillDB writes a database of about 24 MiB (24,000 rows of 1,000 bytes, so they sit in
// the table's leaf pages, which a scan reads) and returns its path.
func fillDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "heap.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24000)
		INSERT INTO t (id, b) SELECT i, randomblob(1000) FROM n`); err != nil {
		t.Fatal(err)
	}
	return path
}

// readThrough reads every row of path on two connections whose page caches could hold
// the whole file (64 MiB each), and returns the highwater of SQLite's heap meanwhile.
func readThrough(t *testing.T, path string) int64 {
	t.Helper()
	ResetHighwater()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=cache_size(-65536)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(2)
	ctx := context.Background()
	conns := make([]*sql.Conn, 2)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
	}
	for pass := range 2 {
		for i, c := range conns {
			var n, size int64
			// Each connection reads its own half of the rows first, then the other's.
			lo := (int64(i+pass) % 2) * 12000
			if err := c.QueryRowContext(ctx, `SELECT count(*), sum(length(b)) FROM t WHERE id > $1 AND id <= $2`, lo, lo+12000).Scan(&n, &size); err != nil {
				t.Fatal(err)
			}
			if n != 12000 || size != 12000*1000 {
				t.Fatalf("read %d rows of %d bytes, want 12000 of %d", n, size, 12000*1000)
			}
		}
	}
	_, high := Used()
	return high
}

// TestSoftLimit proves that the limit bounds SQLite's heap: reading a 24 MiB table
// through two connections with 64 MiB page caches takes the heap past 20 MiB without a
// limit (the control: the caches fill), and keeps it within the limit plus what is not
// page cache with one.
func TestSoftLimit(t *testing.T) {
	if accounting != nil {
		t.Fatal(accounting)
	}
	path := fillDB(t)
	prev, err := SetSoftLimit(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := SetSoftLimit(prev); err != nil {
			t.Error(err)
		}
	})
	unlimited := readThrough(t, path)
	if unlimited < 20<<20 {
		t.Fatalf("without a limit the heap peaked at %d KiB, want the page caches past 20 MiB", unlimited>>10)
	}
	const limit = 4 << 20
	if _, err := SetSoftLimit(limit); err != nil {
		t.Fatal(err)
	}
	limited := readThrough(t, path)
	t.Logf("heap highwater: %d KiB without a limit, %d KiB with a %d KiB limit", unlimited>>10, limited>>10, limit>>10)
	if limited > limit+1<<20 {
		t.Fatalf("with a %d KiB soft limit the heap peaked at %d KiB", limit>>10, limited>>10)
	}
	if got, err := SetSoftLimit(limit); err != nil || got != limit {
		t.Fatalf("SetSoftLimit returned %d, %v; want the limit in force, %d", got, err, limit)
	}
}

func TestSetSoftLimitRejectsNegative(t *testing.T) {
	if _, err := SetSoftLimit(-1); err == nil {
		t.Fatal("a negative limit was accepted")
	}
}
