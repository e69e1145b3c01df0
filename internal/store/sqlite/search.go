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

// Text search (store.TextSearcher) over an FTS5 table, search_text (schema version 2):
// one row per blob, rowid = blobs.id, with the blob's folded header and body text
// (store.ExtractText, store.FoldText). The trigram tokenizer with case_sensitive 1 makes
// "col GLOB '*needle*'" an index lookup for needles of three or more characters: FTS5
// intersects the trigrams' row lists and checks the pattern on each candidate, so the
// answer is exact. Shorter needles scan the mailbox's rows of the index (instr), which
// is still far cheaper than reading and decoding the bodies.
//
// Indexing is lazy: SearchText first indexes the mailbox's blobs that have no row yet,
// reading and extracting on the calling goroutine and inserting through the committer in
// batches, so concurrent searches of the same mailbox at worst both extract a blob (the
// insert skips a row that exists). Delivered mail is also indexed in the background
// (search_bg.go), and search_state tells TextUnindexed when a mailbox is clean and, by
// its UID mark, from which UID on a check must look (schema version 8). A trigger removes the row of a blob whose last
// reference goes, so the index never keeps the text of deleted mail.

var _ store.TextSearcher = (*Store)(nil)

// indexBatch and indexBatchBytes bound the blobs one committer job indexes (each job is
// one commit, and its texts are held in memory until then). The committer runs one
// batch at a time, so an index job delays every STORE and delivery queued behind it: the
// trigram tokenizer takes about half a second per MiB of text, and 16 MiB jobs held the
// writes for seconds (make bench, IMAP while the SMTP runs' mail was indexed: STORE p99
// 4 s). A job of 256 KiB of bodies held them for about 0.1 s, which was still the p99 of
// STORE and APPEND there (150-220 ms); at 64 KiB (or one larger body) it is 60-100 ms.
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
		sqlq = `SELECT m.uid FROM messages m JOIN search_text s ON s.rowid = m.blob
			WHERE m.mailbox = $1 AND ` + cond + ` ORDER BY m.uid`
	case q.Header:
		sqlq, arg = `SELECT uid FROM messages WHERE mailbox = $1 AND blob IN (
			SELECT rowid FROM search_text WHERE header GLOB $2
			UNION SELECT rowid FROM search_text WHERE body GLOB $2) ORDER BY uid`, globPattern(needle)
	default:
		sqlq, arg = `SELECT uid FROM messages WHERE mailbox = $1 AND blob IN (
			SELECT rowid FROM search_text WHERE body GLOB $2) ORDER BY uid`, globPattern(needle)
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

// markClean is markClean's statement, also run by the last job of an indexAll.
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
		WHERE m.mailbox = $1 AND m.uid >= $3 AND NOT EXISTS (SELECT 1 FROM search_text s WHERE s.rowid = m.blob) LIMIT $2`,
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

// indexAll indexes blobs in committer jobs of at most indexBatch blobs and
// indexBatchBytes bytes. With pace (the background indexer) it waits after each job as
// long as the job took, so indexing a backlog (the mail of a busy hour, an upgrade) holds
// SQLite's one writer at most half the time and STOREs and deliveries are not queued
// behind job after job; a search indexing what it needs does not wait. With clean, the
// last job also marks the mailbox clean (markClean): a delivery's indexing is one job,
// not two.
func (s *Store) indexAll(ctx context.Context, todo []unindexed, pace bool, mbox int64, clean *textState) error {
	if len(todo) == 0 && clean != nil {
		return s.markClean(ctx, mbox, *clean)
	}
	for len(todo) > 0 {
		n, bytes := 0, int64(0)
		for n < len(todo) && n < indexBatch && bytes < indexBatchBytes {
			bytes += todo[n].loc.len
			n++
		}
		var last func(w *wtx) error
		if n == len(todo) && clean != nil {
			st := *clean
			last = func(w *wtx) error { return w.markClean(mbox, st) }
		}
		start := time.Now()
		if err := s.indexBlobs(ctx, todo[:n], last); err != nil {
			return err
		}
		todo = todo[n:]
		if pace { // after the last job too: the next pass may be another mailbox's
			if err := store.SleepContext(ctx, time.Since(start)); err != nil {
				return err
			}
		}
	}
	return nil
}

// indexBlobs extracts the text of some blobs and inserts their rows in one job; then,
// when not nil, runs in the same job.
func (s *Store) indexBlobs(ctx context.Context, blobs []unindexed, then func(w *wtx) error) error {
	texts := make([]store.SearchableText, len(blobs))
	for i, u := range blobs {
		t, err := s.blobText(u.loc)
		if err != nil {
			return fmt.Errorf("search index: blob %d: %w", u.id, err)
		}
		texts[i] = store.SearchableText{Header: store.FoldText(t.Header), Body: store.FoldText(t.Body)}
	}
	_, err := s.c.do(ctx, func(w *wtx) error {
		for i, u := range blobs {
			// A blob freed meanwhile (its trigger ran) gets no row; a row another search
			// inserted meanwhile is kept.
			_, err := w.exec(`INSERT INTO search_text (rowid, header, body) SELECT $1, $2, $3
				WHERE EXISTS (SELECT 1 FROM blobs WHERE id = $1 AND refs > 0)
				AND NOT EXISTS (SELECT 1 FROM search_text WHERE rowid = $1)`, u.id, texts[i].Header, texts[i].Body)
			if err != nil {
				return fmt.Errorf("search index: %w", err)
			}
		}
		if then != nil {
			return then(w)
		}
		return nil
	}, nil)
	return err
}

func (s *Store) blobText(loc blobLoc) (store.SearchableText, error) {
	b, err := s.packs.open(loc)
	if err != nil {
		return store.SearchableText{}, err
	}
	t, err := store.ExtractText(b, b.Size())
	return t, errors.Join(err, b.Close())
}
