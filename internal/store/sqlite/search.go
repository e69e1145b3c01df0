package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"mailgrid/internal/store"
)

// Text search (store.TextSearcher) over an FTS5 table, search_text, one row per blob
// (rowid = blobs.id) with the blob's folded header and body text (store.ExtractText,
// store.FoldText). The trigram tokenizer with case_sensitive 1 makes "col GLOB
// '*needle*'" an index lookup for needles of three or more characters: FTS5 intersects
// the trigrams' row lists and checks the pattern on each candidate, so the answer is
// exact. Shorter needles scan the mailbox's rows of the index (instr), which is still far
// cheaper than reading and decoding the bodies.
//
// # Two database files
//
// search_text lives in search.db beside store.db (searchdb.go; schema version 10 moved
// it), with a write connection of its own, and is attached as "sx" to every read
// connection, so a search still joins messages with sx.search_text in one statement.
// Index writes (the trigram tokenizer, FTS5's segment flushes and merges) never take
// store.db's write lock: deliveries, APPEND, STORE and expunges never wait for them.
// Index writes serialize among themselves on search.db's one writer. The index is
// derived data: a missing, corrupt or foreign search.db is re-created empty at Open and
// rebuilt from the bodies.
//
// What stays in store.db, written by the committer: search_state, per mailbox: gen
// counts the messages added (by trigger, whatever the path: delivery, copy, import),
// clean is the gen up to which every message's blob was found indexed, every message
// with a UID below mark is indexed (schema version 8), and epoch counts the inserts
// below UIDNEXT (version 9). And search_free, the queue of blobs whose last reference
// went (trigger search_free_add).
//
// Order between the files. A pass (a search's lazy indexing or the background
// indexer's, search_bg.go) reads the state, finds the unindexed blobs, inserts their rows
// into search.db and commits that (synchronous=FULL), and only then runs markClean as a
// committer job: a crash leaves rows without a mark (checked again later), never a mark
// without rows. An index job reads the blobs' refs after taking search.db's write lock
// and skips freed ones; it and the freer act only on store.db commits known durable
// (storeDurable: readers see a commit before its WAL sync). The freer (searchdb.go) deletes the rows of queued blobs from
// search.db, then, in one committer job, removes the entries it handled and makes
// unclean every mailbox where such a blob is referenced again (revived by a new delivery
// of the same content, possibly after a pass saw its row). So deleted mail's text leaves
// the index within a round of the freer (woken by every expunge and mailbox or account
// delete), and a search never returns a deleted message anyway: rows are matched
// through messages.blob.
//
// Indexing is lazy: SearchText first indexes the mailbox's blobs that have no row yet,
// reading and extracting on the calling goroutine, so concurrent searches of the same
// mailbox at worst both extract a blob (the insert skips a row that exists). Delivered
// mail is also indexed in the background (search_bg.go), and search_state tells
// TextUnindexed when a mailbox is clean and, by its UID mark, from which UID on a check
// must look.

var _ store.TextSearcher = (*Store)(nil)

// indexBatch and indexBatchBytes bound the blobs one search.db transaction indexes
// (their texts are held in memory until it commits). search.db has one writer, so a
// background job delays a search's own indexing queued behind it: the trigram tokenizer
// takes about half a second per MiB of text, so 64 KiB (or one larger body) is ~30 ms.
const (
	indexBatch      = 1024
	indexBatchBytes = 64 << 10
)

// SearchText implements store.TextSearcher.
func (s *Store) SearchText(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.TextQuery) ([]store.UID, error) {
	if err := s.ownMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	if err := s.indexMailbox(ctx, int64(mbox)); err != nil {
		return nil, err
	}
	needle := store.FoldText(q.Needle)
	var sqlq string
	args := []any{int64(mbox)}
	arg := needle
	switch {
	case needle == "":
		sqlq = `SELECT uid FROM messages WHERE mailbox = $1 ORDER BY uid`
	case utf8.RuneCountInString(needle) < 3:
		// No trigram to look up: scan the mailbox's index rows.
		cond := `instr(s.body, $2) > 0`
		if q.Header {
			cond = `(instr(s.header, $2) > 0 OR instr(s.body, $2) > 0)`
		}
		sqlq = `SELECT m.uid FROM messages m JOIN sx.search_text s ON s.rowid = m.blob
			WHERE m.mailbox = $1 AND ` + cond + ` ORDER BY m.uid`
	case q.Header:
		sqlq, arg = `SELECT uid FROM messages WHERE mailbox = $1 AND blob IN (
			SELECT rowid FROM sx.search_text WHERE header GLOB $2
			UNION SELECT rowid FROM sx.search_text WHERE body GLOB $2) ORDER BY uid`, globPattern(needle)
	default:
		sqlq, arg = `SELECT uid FROM messages WHERE mailbox = $1 AND blob IN (
			SELECT rowid FROM sx.search_text WHERE body GLOB $2) ORDER BY uid`, globPattern(needle)
	}
	if needle != "" {
		args = append(args, arg)
	}
	rows, err := s.rquery(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("search text: %w", err)
	}
	var uids []store.UID
	for rows.Next() {
		var u store.UID
		if err := rows.Scan(&u); err != nil {
			return nil, errors.Join(fmt.Errorf("search text: %w", err), rows.Close())
		}
		uids = append(uids, u)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("search text: %w", err)
	}
	return uids, nil
}

// globPattern is "*needle*" with GLOB's special characters matched literally.
func globPattern(needle string) string {
	var b strings.Builder
	b.Grow(len(needle) + 8)
	b.WriteByte('*')
	for _, c := range needle {
		switch c {
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(c)
			b.WriteByte(']')
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('*')
	return b.String()
}

// unindexed is a blob of the mailbox without a search_text row.
type unindexed struct {
	id  int64
	loc blobLoc
}

// indexMailbox indexes the blobs of the mailbox's messages that have no index row. The
// mailbox's search_state tells whether a message came in since the last time every blob
// was indexed; only then are its messages from the state's mark on checked. The state is
// read before the check, so a message added during it leaves the state unclean (and the
// mark where it was) for the next search.
func (s *Store) indexMailbox(ctx context.Context, mbox int64) error {
	st, err := s.searchState(ctx, mbox)
	if err != nil || st.clean() {
		return err
	}
	todo, err := s.unindexedBlobs(ctx, mbox, st.mark, -1)
	if err != nil {
		return err
	}
	return s.indexAll(ctx, todo, false, mbox, &st)
}

// textState is a mailbox's search_state with its UIDNEXT, read in one statement: gen
// counts the messages added, clean is the gen up to which every message was found
// indexed, every message with a UID below mark is indexed (schema version 8), and epoch
// counts the inserts below UIDNEXT (version 9).
type textState struct {
	gen, done, mark, epoch, uidNext int64
}

func (t textState) clean() bool { return t.gen == t.done }

// searchState returns the mailbox's search_state, creating it on first use so later
// additions count.
func (s *Store) searchState(ctx context.Context, mbox int64) (textState, error) {
	var t textState
	const q = `SELECT st.gen, st.clean, st.mark, st.epoch, mb.uidnext FROM search_state st
		JOIN mailboxes mb ON mb.id = st.mailbox WHERE st.mailbox = $1`
	err := s.rrow(ctx, q, mbox).Scan(&t.gen, &t.done, &t.mark, &t.epoch, &t.uidNext)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = s.c.do(ctx, func(w *wtx) error {
			_, err := w.exec(`INSERT INTO search_state (mailbox) VALUES ($1) ON CONFLICT (mailbox) DO NOTHING`, mbox)
			return err
		}, nil)
		if err == nil {
			err = s.rrow(ctx, q, mbox).Scan(&t.gen, &t.done, &t.mark, &t.epoch, &t.uidNext)
		}
	}
	if err != nil {
		return textState{}, fmt.Errorf("search index: state: %w", err)
	}
	return t, nil
}

// markClean records that every message counted up to st.gen (read before the check for
// unindexed blobs) is indexed and that every UID below st.uidNext is: the mark rises to
// it. Messages added since took UIDs from st.uidNext on, unless one was inserted below
// UIDNEXT (an import): that bumped epoch, and the mark, which its insert may have
// lowered, stays (all writes are committer jobs; an insert counts in its own transaction).
func (s *Store) markClean(ctx context.Context, mbox int64, st textState) error {
	_, err := s.c.do(ctx, func(w *wtx) error { return w.markClean(mbox, st) }, nil)
	return err
}

// markClean is markClean's statement.
func (w *wtx) markClean(mbox int64, st textState) error {
	_, err := w.exec(`UPDATE search_state SET clean = max(clean, $2),
		mark = CASE WHEN epoch = $4 THEN max(mark, $3) ELSE mark END WHERE mailbox = $1`,
		mbox, st.gen, st.uidNext, st.epoch)
	if err != nil {
		return fmt.Errorf("search index: state: %w", err)
	}
	return nil
}

// unindexedBlobs returns the blobs of the mailbox's messages from UID from on without a
// search_text row, at most limit (-1: all).
func (s *Store) unindexedBlobs(ctx context.Context, mbox, from int64, limit int) ([]unindexed, error) {
	rows, err := s.rquery(ctx, `SELECT DISTINCT b.id, b.pack, b.off, b.len FROM messages m JOIN blobs b ON b.id = m.blob
		WHERE m.mailbox = $1 AND m.uid >= $3 AND NOT EXISTS (SELECT 1 FROM sx.search_text s WHERE s.rowid = m.blob) LIMIT $2`,
		mbox, limit, from)
	if err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	var todo []unindexed
	for rows.Next() {
		var u unindexed
		if err := rows.Scan(&u.id, &u.loc.pack, &u.loc.off, &u.loc.len); err != nil {
			return nil, errors.Join(fmt.Errorf("search index: %w", err), rows.Close())
		}
		todo = append(todo, u)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("search index: %w", err)
	}
	return todo, nil
}

// indexAll indexes blobs in search.db transactions of at most indexBatch blobs and
// indexBatchBytes bytes. With clean, once the last one is committed (durable), the
// mailbox is marked clean (markClean, a committer job). With pace (the background
// indexer) it waits after each transaction as long as it took. store.db's writer no
// longer waits for index jobs, but on two cores the indexer's CPU still competes with
// the foreground: with the pause, flag changes during a backlog ran at 2,850-3,050/s
// (p99 29-37 ms), without it at 1,930-2,290/s (p99 44-58 ms; BenchmarkFlagsDuringIndexBacklog).
// A search indexing what it needs does not wait.
func (s *Store) indexAll(ctx context.Context, todo []unindexed, pace bool, mbox int64, clean *textState) error {
	for len(todo) > 0 {
		n, bytes := 0, int64(0)
		for n < len(todo) && n < indexBatch && bytes < indexBatchBytes {
			bytes += todo[n].loc.len
			n++
		}
		start := time.Now()
		if err := s.indexBlobs(ctx, todo[:n]); err != nil {
			return err
		}
		todo = todo[n:]
		if pace { // after the last job too: the next pass may be another mailbox's
			if err := store.SleepContext(ctx, time.Since(start)); err != nil {
				return err
			}
		}
	}
	if clean != nil {
		return s.markClean(ctx, mbox, *clean)
	}
	return nil
}

// indexBlobs extracts the text of some blobs and inserts their rows in one search.db
// transaction. The blobs still referenced are read from store.db after the transaction
// took search.db's write lock, so a blob freed before is skipped and one freed after has
// its search_free entry committed after that read: the freer, which reads the queue
// under the same lock, deletes the row in a later round (drainFreed). A row another
// search inserted meanwhile is kept. Rows are written only for blobs whose reference is
// durable in store.db (storeDurable): a reader sees a commit before its WAL sync, and a
// row for a blob a crash then took away would stand for whatever content takes its id
// next.
func (s *Store) indexBlobs(ctx context.Context, blobs []unindexed) error {
	texts := make([]store.SearchableText, len(blobs))
	ids := make([]int64, len(blobs))
	for i, u := range blobs {
		t, err := s.blobText(u.loc)
		if err != nil {
			return fmt.Errorf("search index: blob %d: %w", u.id, err)
		}
		texts[i] = store.SearchableText{Header: store.FoldText(t.Header), Body: store.FoldText(t.Body)}
		ids[i] = u.id
	}
	return s.searchTx(ctx, func(tx *sql.Tx) error {
		live, err := s.liveBlobs(ctx, ids)
		if err == nil {
			err = s.storeDurable(ctx)
		}
		if err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO search_text (rowid, header, body) SELECT $1, $2, $3
			WHERE NOT EXISTS (SELECT 1 FROM search_text WHERE rowid = $1)`)
		if err != nil {
			return fmt.Errorf("search index: %w", err)
		}
		for i, u := range blobs {
			if !live[u.id] {
				continue
			}
			if _, err := st.ExecContext(ctx, u.id, texts[i].Header, texts[i].Body); err != nil {
				return errors.Join(fmt.Errorf("search index: %w", err), st.Close())
			}
		}
		return st.Close()
	})
}

// liveBlobs returns which of ids store.db's blobs reference now (refs > 0).
func (s *Store) liveBlobs(ctx context.Context, ids []int64) (map[int64]bool, error) {
	rows, err := s.rquery(ctx, `SELECT id FROM blobs WHERE id IN (SELECT value FROM json_each($1)) AND refs > 0`, jsonIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("search index: blob refs: %w", err)
	}
	live := make(map[int64]bool, len(ids))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, errors.Join(fmt.Errorf("search index: blob refs: %w", err), rows.Close())
		}
		live[id] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("search index: blob refs: %w", err)
	}
	return live, nil
}

func (s *Store) blobText(loc blobLoc) (store.SearchableText, error) {
	b, err := s.packs.open(loc)
	if err != nil {
		return store.SearchableText{}, err
	}
	t, err := store.ExtractText(b, b.Size())
	return t, errors.Join(err, b.Close())
}
