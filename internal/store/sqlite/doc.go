// Package sqlite is the embedded store.Store driver: one SQLite database holds the mailbox
// and message metadata of a shard, and append-only pack files beside it hold the message
// bodies, stored once per content.
//
// # Layout of a shard directory (Options.Dir)
//
//	store.db (+ -wal, -shm)   SQLite in WAL mode: accounts, mailboxes, messages, blobs,
//	                          expunged (tombstones), meta (counters), schema_version,
//	                          search_state (what the text index covers, search.go) and
//	                          search_free (freed blobs whose index rows are to go,
//	                          drained by the freer, searchdb.go)
//	search.db (+ -wal, -shm)  the text index: search_text (FTS5) and search_meta (the
//	                          file's id), attached to the read connections as sx; derived
//	                          data, re-created if missing or corrupt (searchdb.go)
//	packs/00000001.pack ...   message bodies, appended back to back, never rewritten
//	announce.log              account announcements for the other processes of the
//	                          shard (announce.go)
//
// # Library
//
// modernc.org/sqlite (driver name "sqlite"): pure Go, so the binary builds with
// CGO_ENABLED=0 and cross-compiles; its SQL ($1 placeholders, RETURNING, ON CONFLICT)
// matches PostgreSQL, which the cluster driver uses. Connections run with WAL,
// synchronous=FULL (the writer switches to NORMAL and syncs the WAL itself: "Pipelined
// commits" below; either way a nil error from a change means durable), foreign_keys=ON,
// a busy_timeout (the CLI may open the same files from another process) and BEGIN
// IMMEDIATE, so a writer takes the write lock up front and never has to upgrade.
// One connection writes; a separate pool of query-only connections reads. The text index
// has its own file and its own write connection, so index writes never take store.db's
// write lock nor wait for the committer (search.go). WAL checkpoints run in the
// background, off the write path (checkpoint.go).
//
// # Group commit
//
// Every change is a job handed to one committer goroutine. The committer takes every job
// waiting, runs them all in ONE transaction and answers all callers after the single
// commit. The jobs run without savepoints first (a SAVEPOINT copies every page a job
// changes to a sub-journal); if one fails, the transaction is rolled back and the batch
// runs again with a SAVEPOINT per job, so the failing job is rolled back alone (a job
// alone in its batch needs no second run: the transaction was its savepoint). The disk
// does a few hundred to a few thousand fsyncs per second; twenty concurrent deliveries
// sharing one commit turn that into thousands of deliveries per second.
//
// Order inside one batch, under SQLite's write lock (which is also what makes the pack
// safe to append to from another process):
//
//  1. BEGIN IMMEDIATE; read the current pack number from meta.
//  2. For each body of the batch: if its sha256 is known (blobs table), reuse the row;
//     else append the bytes to the current pack (rotating to a new pack past
//     Options.PackSize) and remember sha256 -> (pack, offset, length).
//  3. Start the pack's fdatasync in the background, insert the new blob rows.
//  4. Run the jobs (in savepoints on the second run of a batch in which one failed); wait
//     for the pack's sync (a failure fails the batch: rolled back), then COMMIT. Committed
//     rows therefore never point at bytes that are not on disk. Bytes of a batch that
//     fails, or of a crash before COMMIT, are unreferenced garbage in a pack.
//  5. Hand the batch to the syncer (below) and start the next batch. The syncer
//     fdatasyncs the WAL, then publishes each successful job's store.Change events, in
//     commit order, and answers the callers. Events are never published before the sync.
//
// # Pipelined commits
//
// The writer connection runs with synchronous=NORMAL: in WAL mode its COMMIT writes the
// transaction's frames to store.db-wal without fsync (checkpoints still sync the WAL
// before copying pages into store.db, and store.db after). A syncer goroutine fdatasyncs
// the WAL file (through its own descriptor) after each COMMIT, while the committer
// already runs the next batch, so a batch's statements no longer wait for the previous
// batch's fsync (0.5 ms at the median, 6-7 ms at p99 on the development disk). One batch
// is synced while the next one runs; the committer then waits for that sync before it
// hands over its batch (syncQueue), so latency and memory stay bounded.
//
// An answered job is as durable as with FULL: the WAL's frames are appended in order,
// each with a checksum that covers every frame before it in the file, and recovery replays
// frames only while the checksums hold, up to the last commit frame among them
// (https://www.sqlite.org/fileformat2.html#walformat). Recovery therefore keeps a prefix
// of the commits; a sync after batch N's COMMIT puts everything up to N's commit frame
// on disk, so that prefix holds N, and one sync covers every batch committed before it
// (the syncer syncs once for all the batches waiting).
//
// The trade-off: the read connections see batch N's rows from its COMMIT on, before its
// sync, so another session may read rows that a power loss (not a crash of the process:
// the OS holds the written frames) would take back; the job's caller has not been
// answered then, and the changes (IDLE pushes, the bus) are published only after the
// sync, so no notification ever announces rows that may vanish.
//
// A failed sync fails the callers of every batch it was to cover (the protocols answer a
// temporary failure) and publishes nothing of them. A failed WAL sync (ErrSyncFailed)
// also refuses every write after it until the store is opened again: after a failed
// fsync the state of the page cache is unknown (Linux may mark the dirty pages clean and
// drop them, and a later fsync succeeds without writing them), so the WAL may have a hole
// that would cost every later commit at the next recovery. A failed pack sync fails its
// batch only: the batch is rolled back, no row points at those bytes, and later batches
// append behind them and sync their own bytes.
//
// # Model details
//
//   - Blobs are content-addressed: one row per sha256 with a reference count (refs). A
//     message delivered to many local recipients, or copied, adds references to one body.
//     A blob whose refs drops to 0 stays in its pack and is recorded as free (refs = 0,
//     indexed); delivering the same content again revives it. Compaction of packs (copying
//     live blobs out of mostly-free packs and deleting them) is not written yet.
//   - Each mailbox keeps UIDNEXT and HIGHESTMODSEQ in its row. UIDs are never reused
//     (RFC 9051 2.3.1.1). Every add, flag change and expunge of a message takes the next
//     modseq (RFC 7162 3.1), so modseqs strictly increase per mailbox. Expunged UIDs stay
//     in the expunged table with the modseq of their removal, for QRESYNC VANISHED
//     (RFC 7162 3.2.10).
//   - UIDVALIDITY comes from a store-wide counter in meta, at least the current Unix time,
//     so a mailbox deleted and created again, even on a restored copy, gets a new value.
//   - Quota usage (bytes, messages) lives in the accounts row and changes in the same
//     transaction as the content, so it can never drift.
//   - Isolation: every query names (domain, account); an ID of another account is
//     store.ErrNotFound.
//   - Mailbox renames and deletes are jobs of the same committer as deliveries, so a
//     delivery resolves its mailbox name inside the transaction that stores it; a
//     delivery to a mailbox that vanished falls back to INBOX.
//   - Expunged UIDs are kept for good (like Dovecot and mox); Store.Vanished serves them.
//     Pruning old tombstones (and answering older QRESYNC states with a full resync) is
//     not written yet.
//   - Messages reads in pages of bounded size; OpenBlob returns an io.ReaderAt over a
//     section of the pack file, read through a read-only file per pack kept open and
//     shared by readers (packread.go). Nothing holds a whole mailbox or message in memory.
//   - Statements are prepared once and cached (stmt.go): SQL compilation was a third of
//     the committer's CPU before.
//
// # Throughput
//
// BenchmarkDeliver4K / BenchmarkDeliver100K: 20 concurrent callers, each delivery durable
// before Deliver returns, message.Parse included. On the 2-core development machine,
// shared with other builds (load 2-8): 3,100-5,500 deliveries/s of 4 KiB and
// 1,200-2,400/s of 100 KiB, against a target of 1,000/s of 4 KiB.
//
// The package also runs the storetest conformance suite in its tests.
package sqlite
