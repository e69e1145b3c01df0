// Package postgres is the cluster store.Store driver: one PostgreSQL database is one
// shard, holding the mailbox and message metadata of its accounts and the message bodies
// themselves, stored once per content. Any number of nodes open the same shard at once;
// PostgreSQL's row locks and its write-ahead log make them agree, and LISTEN/NOTIFY
// (package bus/pgnotify) tells every node what the others committed.
//
// It has the semantics of the SQLite driver (internal/store/sqlite), with a different
// engine underneath, and passes the same conformance suite (storetest).
//
// # Layout
//
// The tables live in one PostgreSQL schema (Options.Schema, default mailgrid_store), the
// search_path of every pooled connection, so several shards, or other drivers' tables,
// can share a database.
//
//	schema_migrations  applied schema versions (migrations run under an advisory lock)
//	meta               counters: the shard-wide UIDVALIDITY counter
//	accounts           (domain, id) -> usage: bytes, messages
//	mailboxes          name, special-use, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, counters
//	messages           mailbox, UID, modseq, flags (text[]), date and its zone, size, blob,
//	                   meta (JSON)
//	expunged           tombstones: (mailbox, UID) -> modseq of the expunge
//	blobs              sha256 -> size, refs (reference count), freed_at
//	blob_parts         (blob, part) -> bytea of PartSize bytes (the last one shorter),
//	                   compressed with lz4 where the server has it (schema 9), else pglz
//	search_text        blob -> folded header and body text, pg_trgm GIN indexes (search.go;
//	                   filled lazily by SearchText and in the background, search_bg.go;
//	                   needs the pg_trgm extension, trusted)
//	search_clean       mailbox -> the text index's watermark: every UID below it indexed,
//	                   and an epoch imports bump (search_state.go)
//
// # Library
//
// github.com/jackc/pgx/v5 with pgxpool: PostgreSQL's native protocol, prepared statements
// cached per connection, batches (several statements in one round trip), COPY (bodies
// are streamed in), and LISTEN/NOTIFY. database/sql would hide the last three.
//
// # Transactions and locks
//
// A change is one READ COMMITTED transaction on a pooled connection; concurrent calls run
// in parallel transactions (synchronous_commit stays on: a nil error means durable, and
// on a synchronous standby too if the server is configured so). Counters that order
// things — UIDNEXT and HIGHESTMODSEQ of a mailbox, usage of an account — are read and
// written under a row lock on their row (SELECT ... FOR NO KEY UPDATE), so UIDs are
// unique and never reused (RFC 9051 2.3.1.1) and modseqs strictly increase (RFC 7162
// 3.1) even with several nodes delivering into one mailbox. Locks are always taken in
// one order (blob of a delivered body, accounts, mailboxes, UIDVALIDITY counter, blob
// reference counts; rows.go), so transactions do not deadlock on each other; a deadlock
// or serialization failure that happens anyway (SQLSTATE 40P01, 40001) runs the
// transaction again, a bounded number of times.
//
// The transaction is driven by hand on the connection (tx.go): BEGIN is pipelined with
// the first statements, and the last statements, the NOTIFY and COMMIT go out in one
// batch. A delivery of a body up to PartSize is two round trips: one batch that stores
// the body if new and locks the accounts and mailboxes, and one that inserts the
// messages, saves counters, usage and references, notifies and commits.
//
// # Bodies
//
// A body is content-addressed: one blobs row per sha256, with a reference count kept in
// the same transaction as the messages that refer to it, and its bytes in blob_parts. A
// delivery of new content inserts the blob row and first part in one statement and
// streams further parts with COPY, so a 50 MB message never sits in memory whole; a
// delivery to many recipients, or a copy, adds references to the one body. OpenBlob
// gives an io.ReaderAt that fetches one part at a time (and caches that one part). A
// blob whose references drop to 0 is stamped freed_at and kept; delivering the same
// content again revives it, and CollectBlobs deletes those freed longer ago than a grace
// period (which also protects a reader still streaming it).
//
// # Changes and other nodes
//
// Every write transaction ends with pg_notify('mailgrid_changes', payload) carrying its
// store.Change events as compact JSON with Options.Origin (pgnotify.Payloads); the
// notification reaches the other nodes only if the transaction commits, in commit order.
// After the commit the same events go to Options.Publisher, if any, in commit order as
// well: a transaction takes a publication ticket while it still holds its locks (seq.go).
// How a node wires its bus (store Publisher and Listener, or Listener alone) is described
// in package pgnotify; only the Listener-alone wiring gives every node one stream in
// commit order.
//
// The NOTIFY is not free: PostgreSQL serialises all notifying transactions of the server
// on one lock held until their commit is flushed (async.c, PreCommit_Notify), so they do
// not share WAL flushes. Measured below.
//
// # Other details
//
//   - UIDVALIDITY comes from a shard-wide counter, at least the current Unix time, so a
//     mailbox deleted and created again, even on a restored copy, gets a new value.
//   - Isolation: every statement names (domain, account) or a row reached through a
//     mailbox checked to belong to them; an ID of another account is store.ErrNotFound.
//   - Expunged UIDs are kept for good (Dovecot and mox do the same) and serve Vanished.
//   - Mailbox names and domains use the "C" collation: byte order, as in Go and SQLite.
//
// # Throughput
//
// BenchmarkDeliver4K / BenchmarkDeliver100K: 20 concurrent callers, distinct messages,
// 100 accounts, each delivery durable before Deliver returns, message.Parse and the
// NOTIFY included, PostgreSQL 15 on the same 2-core machine, shared with other builds
// (load average 4-10 while measuring, so the spread is wide): 300-740 deliveries/s of
// 4 KiB and 160-360/s of 100 KiB. The same build without the NOTIFY, in alternate runs:
// 430-1,130/s and 250-550/s. The client uses about 13% of one core; the rest is
// PostgreSQL's CPU and WAL flushes. The SQLite driver, one in-process writer batching
// deliveries into one transaction, does several times this on the same machine.
package postgres
