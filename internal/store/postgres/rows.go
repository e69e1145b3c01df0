package postgres

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// mboxRow is a mailboxes row; a write transaction changes its counters in memory and
// saves them with saveCounters.
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

func scanMbox(row pgx.Row) (*mboxRow, error) {
	m := &mboxRow{}
	err := row.Scan(&m.id, &m.name, &m.specialUse, &m.subscribed, &m.uidValidity, &m.uidNext,
		&m.modSeq, &m.messages, &m.unseen, &m.size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("mailbox")
	}
	return m, err
}

// collectMboxes reads every row of a mailbox query.
func collectMboxes(rows pgx.Rows, err error) ([]*mboxRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*mboxRow
	for rows.Next() {
		m, err := scanMbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
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

// count adjusts the in-memory counters of m by n messages of size bytes.
func (m *mboxRow) count(n, size int64, seen bool) {
	m.messages += n
	m.size += n * size
	if !seen {
		m.unseen += n
	}
}

// Locking. Every write transaction takes its row locks in one global order, so two
// transactions never wait for each other in a cycle:
//
//  1. the body's blob row, FOR KEY SHARE (Deliver only: it keeps the blob from being
//     collected, and does not conflict with reference count updates);
//  2. account rows, ordered by (domain, id), FOR NO KEY UPDATE: every transaction that
//     changes usage or the set of mailboxes of an account holds its row first;
//  3. mailbox rows, ordered by account then id, FOR NO KEY UPDATE (UIDNEXT, modseq and
//     counters are read and written under it);
//  4. the meta row of the UIDVALIDITY counter (mailbox creation);
//  5. blob rows whose reference count changes, ordered by id.
//
// NO KEY UPDATE is the lock an UPDATE that keeps the key takes; it lets foreign-key checks
// (KEY SHARE) of inserted messages and mailboxes through.

// lockAccount locks acct's row; false if the store does not know the account, or it is
// sealed (seal.go).
func (w *wtx) lockAccount(acct store.AccountRef) (store.Usage, bool, error) {
	var u store.Usage
	found, sealed := false, map[store.AccountRef]bool{}
	b := &pgx.Batch{}
	b.Queue(`SELECT bytes, messages FROM accounts WHERE domain = $1 AND id = $2 FOR NO KEY UPDATE`,
		acct.Domain, acct.ID).QueryRow(func(r pgx.Row) error {
		err := r.Scan(&u.Bytes, &u.Messages)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	queueSealed(b, []store.AccountRef{acct}, sealed)
	if err := w.send(b); err != nil {
		return u, false, fmt.Errorf("lock account: %w", err)
	}
	if !found || sealed[acct] {
		return store.Usage{}, false, nil
	}
	return u, true, nil
}

// needAccount locks acct's row, ErrNotFound if unknown.
func (w *wtx) needAccount(acct store.AccountRef) (store.Usage, error) {
	u, ok, err := w.lockAccount(acct)
	if err == nil && !ok {
		err = notFound("account %s/%d", acct.Domain, acct.ID)
	}
	return u, err
}

// lockMailboxes locks mailboxes of acct by ID, in ID order. Missing (or foreign) IDs are
// absent from the result.
func (w *wtx) lockMailboxes(acct store.AccountRef, ids ...int64) (map[int64]*mboxRow, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	var boxes []*mboxRow
	sealed := map[store.AccountRef]bool{}
	b := &pgx.Batch{}
	b.Queue(`SELECT `+mboxCols+` FROM mailboxes
		WHERE id = ANY($1) AND domain = $2 AND account = $3 ORDER BY id FOR NO KEY UPDATE`,
		slices.Compact(ids), acct.Domain, acct.ID).Query(func(rows pgx.Rows) error {
		var err error
		boxes, err = collectMboxes(rows, nil)
		return err
	})
	queueSealed(b, []store.AccountRef{acct}, sealed)
	if err := w.send(b); err != nil {
		return nil, fmt.Errorf("lock mailboxes: %w", err)
	}
	if sealed[acct] {
		return map[int64]*mboxRow{}, nil // a sealed account has no mailboxes (seal.go)
	}
	out := make(map[int64]*mboxRow, len(boxes))
	for _, m := range boxes {
		out[m.id] = m
	}
	return out, nil
}

// lockMailbox locks one mailbox of acct; another account's ID is ErrNotFound.
func (w *wtx) lockMailbox(acct store.AccountRef, id store.MailboxID) (*mboxRow, error) {
	boxes, err := w.lockMailboxes(acct, int64(id))
	if err != nil {
		return nil, err
	}
	m, ok := boxes[int64(id)]
	if !ok {
		return nil, notFound("mailbox %d", id)
	}
	return m, nil
}

// mailboxByName reads a mailbox of acct by normalised name, without locking it (the
// caller holds the account lock, which every change of names takes).
func (w *wtx) mailboxByName(acct store.AccountRef, name string) (*mboxRow, error) {
	return scanMbox(w.row(`SELECT `+mboxCols+` FROM mailboxes WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, name))
}

// queueCounters queues the update of the counters of boxes.
func queueCounters(b *pgx.Batch, boxes ...*mboxRow) {
	n := len(boxes)
	ids, next, mod, msgs, unseen, size := make([]int64, n), make([]int64, n), make([]int64, n),
		make([]int64, n), make([]int64, n), make([]int64, n)
	for i, m := range boxes {
		ids[i], next[i], mod[i], msgs[i], unseen[i], size[i] = m.id, m.uidNext, m.modSeq, m.messages, m.unseen, m.size
	}
	b.Queue(`UPDATE mailboxes SET uidnext = c.uidnext, highestmodseq = c.modseq, messages = c.messages,
			unseen = c.unseen, size = c.size
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
			AS c(id, uidnext, modseq, messages, unseen, size)
		WHERE mailboxes.id = c.id`, ids, next, mod, msgs, unseen, size)
}

// queueUsage queues a change of acct's usage.
func queueUsage(b *pgx.Batch, acct store.AccountRef, bytes, msgs int64) {
	if bytes == 0 && msgs == 0 {
		return
	}
	b.Queue(`UPDATE accounts SET bytes = bytes + $1, messages = messages + $2 WHERE domain = $3 AND id = $4`,
		bytes, msgs, acct.Domain, acct.ID)
}

// queueRefs queues the change of blob reference counts: the rows are locked in ID order
// first (lock order step 5), then updated. A blob whose count drops to 0 is stamped
// freed_at, for CollectBlobs; one that gains references is live again.
func queueRefs(b *pgx.Batch, refs map[int64]int64) {
	ids := make([]int64, 0, len(refs))
	for id, n := range refs {
		if n != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	slices.Sort(ids)
	ns := make([]int64, len(ids))
	for i, id := range ids {
		ns[i] = refs[id]
	}
	if len(ids) > 1 { // one row needs no order
		b.Queue(`SELECT id FROM blobs WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, ids)
	}
	b.Queue(`UPDATE blobs SET refs = refs + g.n,
			freed_at = CASE WHEN refs + g.n = 0 THEN now() ELSE NULL END
		FROM unnest($1::bigint[], $2::bigint[]) AS g(id, n) WHERE blobs.id = g.id`, ids, ns)
}

// overQuota reports whether adding bytes and msgs to u exceeds q (zero fields unlimited).
func overQuota(u store.Usage, q store.Quota, bytes, msgs int64) bool {
	return (q.Bytes > 0 && u.Bytes+bytes > q.Bytes) || (q.Messages > 0 && u.Messages+msgs > q.Messages)
}

// childRange is the half-open name range [name+"/", name+"0") of name's descendants
// ('0' is the byte after '/'); with the "C" collation it is served by the name index.
func childRange(name string) (lo, hi string) {
	return name + store.MailboxSeparator, name + "0"
}

// isChild reports whether name is a descendant of parent.
func isChild(name, parent string) bool {
	return strings.HasPrefix(name, parent+store.MailboxSeparator)
}

// compareAccounts orders accounts by (domain, id), the order of lock step 2 ("C"
// collation compares bytes, as strings.Compare does).
func compareAccounts(x, y store.AccountRef) int {
	if c := strings.Compare(x.Domain, y.Domain); c != 0 {
		return c
	}
	return cmp.Compare(x.ID, y.ID)
}
