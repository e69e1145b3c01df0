package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// Text search (store.TextSearcher) over search_text (schema version 2): one row per blob
// with its folded header and body text (store.ExtractText, store.FoldText) and a pg_trgm
// GIN index on each column.
//
// Why pg_trgm and not tsvector: IMAP SEARCH is a substring match (RFC 9051 6.4.4), and a
// tsvector holds stemmed words, so "ummer" or "4711" inside "ticket-4711" would need a
// scan to verify anyway. A trigram index answers LIKE '%needle%' directly: PostgreSQL
// takes candidates from the trigrams and rechecks each row against the pattern, so the
// answer is exact, with no second pass in Go. A needle under three characters has no
// trigram; PostgreSQL then filters the mailbox's rows, still without reading bodies.
// Both sides are folded in Go, so the comparison is a plain case-sensitive LIKE and the
// database's locale does not matter.
//
// Indexing is lazy: SearchText first indexes the mailbox's blobs without a row, reading
// them as OpenBlob does, and only of the messages its watermark does not cover yet
// (search_state.go); delivered mail is also indexed in the background (search_bg.go).
// Concurrent searches may both extract a blob; ON CONFLICT keeps
// the first row. A blob's row goes with the blob (ON DELETE CASCADE, CollectBlobs).

// indexBatch is how many blobs one insert round trip indexes; analyzeAfter is how many
// new rows make SearchText refresh the table's statistics.
const (
	indexBatch   = 64
	analyzeAfter = 1000
)

// SearchText implements store.TextSearcher.
func (s *Store) SearchText(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.TextQuery) ([]store.UID, error) {
	if err := s.indexMailbox(ctx, acct, int64(mbox)); err != nil {
		return nil, err
	}
	needle := store.FoldText(q.Needle)
	sqlq := `SELECT m.uid FROM messages m WHERE m.mailbox = $1 ORDER BY m.uid`
	args := []any{int64(mbox)}
	if needle != "" {
		cond := `s.body LIKE $2`
		if q.Header {
			cond = `(s.header LIKE $2 OR s.body LIKE $2)`
		}
		sqlq = `SELECT m.uid FROM messages m JOIN search_text s ON s.blob = m.blob
			WHERE m.mailbox = $1 AND ` + cond + ` ORDER BY m.uid`
		args = append(args, likePattern(needle))
	}
	rows, err := s.pool.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("search text: %w", err)
	}
	uids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.UID, error) {
		var u int64
		err := r.Scan(&u)
		return store.UID(u), err
	})
	if err != nil {
		return nil, fmt.Errorf("search text: %w", err)
	}
	return uids, nil
}

// likePattern is "%needle%" with LIKE's special characters (and its escape, "\")
// matched literally.
func likePattern(needle string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(needle) + "%"
}

// indexMailbox indexes the blobs of acct's mailbox's messages that have no search_text
// row: none when its watermark is clean (search_state.go), else those of the messages
// from the mark on, and records the new mark. ErrNotFound for a mailbox not of acct.
func (s *Store) indexMailbox(ctx context.Context, acct store.AccountRef, mbox int64) error {
	m, err := s.readMark(ctx, &acct, mbox)
	if err != nil || m.clean() {
		return err
	}
	todo, err := s.unindexedBlobs(ctx, mbox, m.from, -1)
	if err != nil {
		return err
	}
	if err := s.indexAll(ctx, todo); err != nil {
		return err
	}
	if len(todo) >= analyzeAfter {
		s.analyzeSearchText(ctx)
	}
	if err := s.recordMark(ctx, mbox, m); err != nil {
		// The search is right without it; the next check looks again.
		s.log.Warn("postgres store: text index mark", "mailbox", mbox, "err", err)
	}
	return nil
}

// analyzeSearchText refreshes search_text's statistics after many new rows. Without
// them the planner guesses one match and picks a nested loop over the mailbox's messages
// per match: quadratic (4.5 s instead of 20 ms over 10,000 messages). Autovacuum would
// analyze later; do it now.
func (s *Store) analyzeSearchText(ctx context.Context) {
	if _, err := s.pool.Exec(ctx, `ANALYZE search_text`); err != nil {
		s.log.Warn("postgres store: analyze search_text", "err", err)
	}
}

// unindexedBlobs returns the blobs of the mailbox's messages with a UID from fromUID on
// without a search_text row, at most limit (-1: all).
func (s *Store) unindexedBlobs(ctx context.Context, mbox, fromUID int64, limit int) ([]*blob, error) {
	var lim any // NULL: LIMIT ALL
	if limit >= 0 {
		lim = int64(limit)
	}
	if err := s.live(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT b.id, b.size FROM messages m JOIN blobs b ON b.id = m.blob
		WHERE m.mailbox = $1 AND m.uid >= $3 AND NOT EXISTS (SELECT 1 FROM search_text s WHERE s.blob = m.blob)
		LIMIT $2`, mbox, lim, fromUID)
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*blob, error) {
		b := &blob{s: s, ctx: ctx, part: -1}
		return b, r.Scan(&b.id, &b.size)
	})
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	return todo, nil
}

// indexAll indexes blobs indexBatch per round trip.
func (s *Store) indexAll(ctx context.Context, todo []*blob) error {
	for len(todo) > 0 {
		n := min(len(todo), indexBatch)
		if err := s.indexBlobs(ctx, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
	}
	return nil
}

// indexBlobs extracts the text of some blobs and inserts their rows in one batch.
func (s *Store) indexBlobs(ctx context.Context, blobs []*blob) error {
	if err := s.prefetchParts(ctx, blobs); err != nil {
		return err
	}
	var batch pgx.Batch
	for _, b := range blobs {
		t, err := store.ExtractText(b, b.size)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("search index: blob %d: %w", b.id, err)
		}
		// A blob collected meanwhile gets no row (nothing refers to it any more).
		batch.Queue(`INSERT INTO search_text (blob, header, body) SELECT $1, $2, $3
			WHERE EXISTS (SELECT 1 FROM blobs WHERE id = $1) ON CONFLICT (blob) DO NOTHING`,
			b.id, store.FoldText(t.Header), store.FoldText(t.Body))
	}
	if err := s.live(); err != nil {
		return err
	}
	if err := s.pool.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}

// prefetchParts reads, in one query, the single part of each blob that has only one
// (most mail: under PartSize) into the blob's part cache, so extracting their text
// costs no query per blob. Larger blobs read their parts on demand as OpenBlob's do.
func (s *Store) prefetchParts(ctx context.Context, blobs []*blob) error {
	byID := make(map[int64]*blob, len(blobs))
	ids := make([]int64, 0, len(blobs))
	for _, b := range blobs {
		if b.size > 0 && b.size <= PartSize {
			byID[b.id] = b
			ids = append(ids, b.id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if err := s.live(); err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT blob, data FROM blob_parts WHERE blob = ANY($1) AND part = 0`, ids)
	if err != nil {
		return fmt.Errorf("search index: read bodies: %w", err)
	}
	var id int64
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &data}, func() error {
		if b := byID[id]; b != nil && int64(len(data)) == b.size {
			b.part, b.data = 0, data // a short part is left to load, which reports it
		}
		data = nil // the row's bytes now belong to the blob
		return nil
	})
	if err != nil {
		return fmt.Errorf("search index: read bodies: %w", err)
	}
	return nil
}

var _ store.TextSearcher = (*Store)(nil)
