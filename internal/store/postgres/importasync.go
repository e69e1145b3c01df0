package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/store"
)

// Imports without waiting for the disk. A migration's copy rounds commit many import
// transactions on the target, each of which (synchronous_commit = on) waits for its WAL
// to be flushed. None of them needs to be durable on its own: until placement switches,
// the source holds the account, and a resumed migration asks the target what it holds
// (package cluster). What must be durable is the copy at the switch.
//
// AsyncImporter gives a second handle on the same shard whose connections run with
// synchronous_commit = off (PostgreSQL manual, "Asynchronous Commit" in the chapter
// "Reliability and the Write-Ahead Log"): a commit returns before its WAL is flushed to
// disk; other sessions see it at once. A server crash may lose the last such commits,
// never part of one and never one without those after it (WAL is replayed in order up
// to the first gap), so the target is left as the copy stood at an earlier moment.
//
// FlushCommits makes every earlier commit durable: a synchronous commit of a
// transaction with an ID waits until the WAL is flushed up to its commit record, which
// lies after all of theirs (the server's WAL is one sequence). It also fails if the
// server restarted since the handle was made (pg_postmaster_start_time changed): commits
// may have been lost that the caller believes done. The handle calls it before every
// SetMailboxSync, so a mailbox's watermark is never recorded above imports a crash
// could still take away; the migration calls it before switching placement.

// errRestarted: the server restarted under an asynchronous import handle.
var errRestarted = errors.New("postgres store: the server restarted during asynchronous imports (the last ones may be lost); run the migration again")

// asyncImporter is the handle AsyncImporter returns: the store on a pool of its own.
//
// What it imports joins the store's text index in the background, but only once the
// handle is closed (the migration is over): indexing a body (search_text and its trigram
// indexes) costs the database more CPU than importing it, and done during the copy it
// competed with the copy for the same cores (BenchmarkMove: ~145 against ~83 µs of
// PostgreSQL CPU per message). Until then, or if the process ends first, the mailboxes'
// index state says they are behind: a search indexes what it needs, and the indexer's
// start-up scan finds them.
type asyncImporter struct {
	*Store
	started time.Time         // the server's start time when the handle was made
	idx     *store.IndexQueue // the store's; told of imported mailboxes at Close

	mu       sync.Mutex
	imported map[store.MailboxID]bool
}

// AsyncImporter returns a store.Importer on the same database whose transactions
// commit with synchronous_commit = off; it also has FlushCommits and Close (the caller
// closes it). Its pool connects lazily. Changes it commits are published like the
// store's own.
func (s *Store) AsyncImporter(ctx context.Context) (store.Importer, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	var started time.Time
	if err := s.pool.QueryRow(ctx, `SELECT pg_postmaster_start_time()`).Scan(&started); err != nil {
		return nil, fmt.Errorf("postgres store: server start time: %w", err)
	}
	cfg := s.pool.Config()
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	cfg.ConnConfig.RuntimeParams["application_name"] = "mailgrid-import"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: import pool: %w", err)
	}
	// The handle's own Store has no indexer (its ImportMessages marks nothing); Close
	// marks what it imported in the store's, which indexes through the store's own pool.
	return &asyncImporter{Store: &Store{pool: pool, log: s.log, origin: s.origin, seq: s.seq}, started: started,
		idx: s.idx, imported: map[store.MailboxID]bool{}}, nil
}

// ImportMessages implements store.Importer; the mailbox is marked for the text index at
// Close.
func (a *asyncImporter) ImportMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, msgs []store.ImportMessage) error {
	if err := a.Store.ImportMessages(ctx, acct, mbox, msgs); err != nil {
		return err
	}
	a.mu.Lock()
	a.imported[mbox] = true
	a.mu.Unlock()
	return nil
}

// FlushCommits returns once every transaction committed on this database before the
// call is durable, the asynchronous ones included; it fails if the server restarted
// since the handle was made.
func (a *asyncImporter) FlushCommits(ctx context.Context) error {
	if err := a.live(); err != nil {
		return err
	}
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: %w", err)
	}
	defer conn.Release()
	var started time.Time
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit = on`)
	b.Queue(`SELECT pg_current_xact_id()`)
	b.Queue(`SELECT pg_postmaster_start_time()`).QueryRow(func(r pgx.Row) error { return r.Scan(&started) })
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			a.log.Warn("postgres store: rollback", "err", rerr)
		}
		return fmt.Errorf("postgres store: flush commits: %w", err)
	}
	if !started.Equal(a.started) {
		return errRestarted
	}
	return nil
}

// Close closes the handle's own pool only (not the store's, nor anything the store
// runs beside it) and hands the mailboxes it imported into to the store's background
// indexer.
func (a *asyncImporter) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		a.pool.Close()
		a.mu.Lock()
		defer a.mu.Unlock()
		for mbox := range a.imported {
			a.idx.MarkMailbox(mbox)
		}
	})
	return nil
}

// SetMailboxSync implements store.Importer: the imports before it are made durable
// first (see above).
func (a *asyncImporter) SetMailboxSync(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uidNext store.UID, modseq uint64) error {
	if err := a.FlushCommits(ctx); err != nil {
		return err
	}
	return a.Store.SetMailboxSync(ctx, acct, mbox, uidNext, modseq)
}
