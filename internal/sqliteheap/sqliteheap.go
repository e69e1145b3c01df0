// Package sqliteheap bounds the memory SQLite holds in a mailgrid process.
//
// The model: every SQLite database a node opens (the store shard, search.db, the
// directory, the queue, the small drivers' files) runs inside one process on one C heap:
// modernc.org/sqlite allocates through modernc.org/libc, whose allocator
// (modernc.org/memory) keeps the regions it has mapped once their allocations are freed,
// and offers no way to hand them back through libc. So the most SQLite ever held stays
// resident: bounding the process means bounding SQLite's peak.
//
// Most of that peak is page caches, and SQLite can bound those itself with a soft heap
// limit (sqlite3_soft_heap_limit64, https://sqlite.org/c3ref/hard_heap_limit64.html):
// past it, an allocation first releases unpinned cached pages, and a connection that
// needs a page recycles the least recently used clean one instead of allocating. The
// modernc build has SQLITE_ENABLE_MEMORY_MANAGEMENT, so all connections' page caches
// share one LRU (pcache1 without separate caches) and a limit is met by whichever
// connection holds the coldest pages. Without a limit they do not stay within their own
// cache_size either: a connection at its cache_size recycles the coldest page of the
// shared LRU, often another connection's, so the writer's cache grew to 20 MiB against a
// default of 2 MiB while the read connections refilled theirs (docs/benchmarks.md "Run
// 10"). A limit is a limit on the page caches; statements, schemas and FTS5's buffers
// are not released, so the heap can pass it by what they hold.
//
// The limit is not enforced without SQLite's memory accounting, which the modernc build
// turns off (SQLITE_DEFAULT_MEMSTATUS=0) and which can only be turned on before the
// first connection opens (sqlite3_config must precede sqlite3_initialize): this package's
// init does it, so a program that imports it has the accounting on from its start. The
// accounting costs a mutex per allocation; libc's allocator already takes one.
//
// Hand-written because the driver offers the C API only: Xsqlite3_config,
// Xsqlite3_soft_heap_limit64 and Xsqlite3_memory_used/highwater of modernc.org/sqlite/lib.
package sqliteheap

import (
	"fmt"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// accounting is the result of turning SQLite's memory accounting on at init.
var accounting error

func init() {
	tls := libc.NewTLS()
	defer tls.Close()
	va := libc.NewVaList(int32(1))
	if va == 0 {
		accounting = fmt.Errorf("sqlite memory accounting: out of memory")
		return
	}
	defer libc.Xfree(tls, va)
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_MEMSTATUS, va); rc != sqlite3.SQLITE_OK {
		// SQLITE_MISUSE: a connection opened before this init ran.
		accounting = fmt.Errorf("sqlite memory accounting: sqlite3_config returned %d", rc)
	}
}

// SetSoftLimit sets the soft heap limit of every SQLite database in the process, in
// bytes (0 = none), and returns the one it replaced. It fails, setting nothing, when
// SQLite's memory accounting is off, as the limit would not be enforced.
func SetSoftLimit(n int64) (prev int64, err error) {
	if accounting != nil {
		return 0, accounting
	}
	if n < 0 {
		return 0, fmt.Errorf("sqlite soft heap limit %d: must not be negative", n)
	}
	tls := libc.NewTLS()
	defer tls.Close()
	return sqlite3.Xsqlite3_soft_heap_limit64(tls, n), nil
}

// Used returns the bytes SQLite has allocated now and the most it had allocated at once
// since the process started or since the last ResetHighwater; both are 0 when the
// accounting is off.
func Used() (now, highwater int64) {
	tls := libc.NewTLS()
	defer tls.Close()
	return sqlite3.Xsqlite3_memory_used(tls), sqlite3.Xsqlite3_memory_highwater(tls, 0)
}

// ResetHighwater starts Used's highwater again from what is allocated now.
func ResetHighwater() {
	tls := libc.NewTLS()
	defer tls.Close()
	sqlite3.Xsqlite3_memory_highwater(tls, 1)
}
