package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"mailgrid/internal/store"
)

// wtx is the write transaction a job runs in.
type wtx struct {
	tx    *sql.Tx
	ctx   context.Context
	cache *stmtCache
	stmts map[string]*sql.Stmt // cache statements bound to tx
	j     *job                 // the job running now
}

// stmt returns q prepared for this transaction, or nil to run it unprepared.
func (w *wtx) stmt(q string) *sql.Stmt {
	if st, ok := w.stmts[q]; ok {
		return st
	}
	var st *sql.Stmt
	if p := w.cache.lookup(q); p != nil {
		st = w.tx.StmtContext(w.ctx, p)
	}
	w.stmts[q] = st
	return st
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	if st := w.stmt(q); st != nil {
		return st.ExecContext(w.ctx, args...)
	}
	return w.tx.ExecContext(w.ctx, q, args...)
}

func (w *wtx) row(q string, args ...any) *sql.Row {
	if st := w.stmt(q); st != nil {
		return st.QueryRowContext(w.ctx, args...)
	}
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(q); st != nil {
		return st.QueryContext(w.ctx, args...)
	}
	return w.tx.QueryContext(w.ctx, q, args...)
}

// emit records a change of the running job, published after the commit.
func (w *wtx) emit(c store.Change) {
	w.j.changes = append(w.j.changes, c)
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// mboxRow is a mailboxes row.
type mboxRow struct {
	id          int64
	name        string
	specialUse  string
	subscribed  bool
	uidValidity int64
	uidNext     int64
	modSeq      int64
	messages    int64
	unseen      int64
	size        int64
}

const mboxCols = `id, name, special_use, subscribed, uidvalidity, uidnext, highestmodseq, messages, unseen, size`

func scanMbox(sc scanner) (*mboxRow, error) {
	m := &mboxRow{}
	err := sc.Scan(&m.id, &m.name, &m.specialUse, &m.subscribed, &m.uidValidity, &m.uidNext,
		&m.modSeq, &m.messages, &m.unseen, &m.size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("mailbox: %w", store.ErrNotFound)
	}
	return m, err
}

func (m *mboxRow) public() store.Mailbox {
	return store.Mailbox{
		ID:            store.MailboxID(m.id),
		Name:          m.name,
		SpecialUse:    m.specialUse,
		Subscribed:    m.subscribed,
		UIDValidity:   uint32(m.uidValidity),
		UIDNext:       store.UID(m.uidNext),
		HighestModSeq: uint64(m.modSeq),
		Messages:      int(m.messages),
		Unseen:        int(m.unseen),
		Size:          m.size,
	}
}

// mailboxByID loads a mailbox of acct; another account's ID is ErrNotFound.
func (w *wtx) mailboxByID(acct store.AccountRef, id store.MailboxID) (*mboxRow, error) {
	return scanMbox(w.row(`SELECT `+mboxCols+` FROM mailboxes WHERE id = $1 AND domain = $2 AND account = $3`,
		int64(id), acct.Domain, acct.ID))
}

// mailboxByName loads a mailbox of acct by its normalised name.
func (w *wtx) mailboxByName(acct store.AccountRef, name string) (*mboxRow, error) {
	return scanMbox(w.row(`SELECT `+mboxCols+` FROM mailboxes WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name))
}

// saveCounters writes back the counters of m.
func (w *wtx) saveCounters(m *mboxRow) error {
	_, err := w.exec(`UPDATE mailboxes SET uidnext = $1, highestmodseq = $2, messages = $3, unseen = $4, size = $5 WHERE id = $6`,
		m.uidNext, m.modSeq, m.messages, m.unseen, m.size, m.id)
	return err
}

// nextModSeq takes the mailbox's next modseq (RFC 7162 3.1: strictly increasing).
func (m *mboxRow) nextModSeq() int64 {
	m.modSeq++
	return m.modSeq
}

// nextUID takes the mailbox's next UID (RFC 9051 2.3.1.1: never reused).
func (m *mboxRow) nextUID() (int64, error) {
	if m.uidNext > math.MaxUint32 {
		return 0, fmt.Errorf("mailbox %q: UID space exhausted: %w", m.name, store.ErrInvalid)
	}
	uid := m.uidNext
	m.uidNext++
	return uid, nil
}

// usage reads an account's usage; false if the store does not know the account.
func (w *wtx) usage(acct store.AccountRef) (store.Usage, bool, error) {
	var u store.Usage
	err := w.row(`SELECT bytes, messages FROM accounts WHERE domain = $1 AND id = $2`, acct.Domain, acct.ID).
		Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	}
	return u, err == nil, err
}

func (w *wtx) addUsage(acct store.AccountRef, bytes, msgs int64) error {
	if bytes == 0 && msgs == 0 {
		return nil
	}
	_, err := w.exec(`UPDATE accounts SET bytes = bytes + $1, messages = messages + $2 WHERE domain = $3 AND id = $4`,
		bytes, msgs, acct.Domain, acct.ID)
	return err
}

// overQuota reports whether adding bytes and msgs to u exceeds q (zero fields unlimited).
func overQuota(u store.Usage, q store.Quota, bytes, msgs int64) bool {
	return (q.Bytes > 0 && u.Bytes+bytes > q.Bytes) || (q.Messages > 0 && u.Messages+msgs > q.Messages)
}

// addRefs changes a blob's reference count.
func (w *wtx) addRefs(blob int64, n int64) error {
	if n == 0 {
		return nil
	}
	_, err := w.exec(`UPDATE blobs SET refs = refs + $1 WHERE id = $2`, n, blob)
	return err
}

// newMessage is what insertMessage stores.
type newMessage struct {
	blob  int64
	size  int64
	date  time.Time
	flags []string
	meta  []byte
	// keys are the sort keys and header search text (store.KeysOf meta), written with
	// the message so no sorted page or header search has to fill them (schema 6, 7).
	keys store.MessageKeys
}

// insertMessage adds a message to m with the next UID and modseq and updates m's
// counters in memory (the caller saves them). Blob refs and usage are the caller's.
func (w *wtx) insertMessage(m *mboxRow, n newMessage) (store.Message, error) {
	uid, err := m.nextUID()
	if err != nil {
		return store.Message{}, err
	}
	modseq := m.nextModSeq()
	seen := store.HasSeen(n.flags)
	var id int64
	_, zone := n.date.Zone()
	if err := w.putSortKeys(m.id, uid, n.keys); err != nil {
		return store.Message{}, err
	}
	err = w.row(`INSERT INTO messages (mailbox, uid, modseq, flags, seen, internal_date, date_zone, size, blob, meta)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		m.id, uid, modseq, joinFlags(n.flags), seen, n.date.UnixNano(), zone, n.size, n.blob, n.meta).Scan(&id)
	if err != nil {
		return store.Message{}, fmt.Errorf("insert message: %w", err)
	}
	m.count(1, n.size, seen)
	return store.Message{
		ID: id, MailboxID: store.MailboxID(m.id), UID: store.UID(uid), ModSeq: uint64(modseq),
		Flags: n.flags, InternalDate: n.date, Size: n.size, Meta: n.meta,
	}, nil
}

// putSortKeys writes the sort_keys row of a message about to be inserted, with its keys
// and header search text; the insert trigger then keeps it (schema version 6). A row left
// by a message no longer there is replaced. The caller inserts the message in the same
// transaction, or fails it.
func (w *wtx) putSortKeys(mbox, uid int64, k store.MessageKeys) error {
	h := k.Header
	if _, err := w.exec(`INSERT OR REPLACE INTO sort_keys (mailbox, uid, sender, subject, h_from, h_to, h_cc, h_bcc, h_subject)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		mbox, uid, k.SortFrom, k.SortSubject, h.From, h.To, h.Cc, h.Bcc, h.Subject); err != nil {
		return fmt.Errorf("insert sort keys: %w", err)
	}
	return nil
}

// count adjusts the in-memory counters of m by n messages of size bytes.
func (m *mboxRow) count(n, size int64, seen bool) {
	m.messages += n
	m.size += n * size
	if !seen {
		m.unseen += n
	}
}

// removed describes a message removeMessage took out.
type removed struct {
	blob, size int64
}

// removeMessage deletes uid from m, records its tombstone with a new modseq (RFC 7162
// 3.2.10 needs expunged UIDs and their modseq) and updates m's counters in memory.
// ok is false if there was no such message.
func (w *wtx) removeMessage(m *mboxRow, uid store.UID) (r removed, modseq int64, ok bool, err error) {
	var seen bool
	err = w.row(`DELETE FROM messages WHERE mailbox = $1 AND uid = $2 RETURNING blob, size, seen`, m.id, int64(uid)).
		Scan(&r.blob, &r.size, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return r, 0, false, nil
	}
	if err != nil {
		return r, 0, false, fmt.Errorf("delete message: %w", err)
	}
	modseq = m.nextModSeq()
	if _, err := w.exec(`INSERT INTO expunged (mailbox, uid, modseq) VALUES ($1, $2, $3)`, m.id, int64(uid), modseq); err != nil {
		return r, 0, false, fmt.Errorf("tombstone: %w", err)
	}
	m.count(-1, r.size, seen)
	return r, modseq, true, nil
}
