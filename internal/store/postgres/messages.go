package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// pageSize is how many messages Messages reads per query: no transaction or connection
// is held while fn runs, and never more than one page is in memory.
const pageSize = 256

// ownMailbox checks that mbox belongs to acct.
func (s *Store) ownMailbox(ctx context.Context, acct store.AccountRef, mbox store.MailboxID) error {
	if err := s.live(); err != nil {
		return err
	}
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM mailboxes WHERE id = $1 AND domain = $2 AND account = $3`,
		int64(mbox), acct.Domain, acct.ID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("mailbox %d", mbox)
	}
	return err
}

// msgCols are the columns scanMessage reads (m: messages, b: blobs).
const msgCols = `m.id, m.mailbox, m.uid, m.modseq, m.flags, m.internal_date, m.date_zone, m.size, b.sha256, m.meta`

func scanMessage(row pgx.Row) (store.Message, error) {
	var (
		m        store.Message
		mbox     int64
		uid, mod int64
		date     time.Time
		zone     *int32
		sum      []byte
	)
	if err := row.Scan(&m.ID, &mbox, &uid, &mod, &m.Flags, &date, &zone, &m.Size, &sum, &m.Meta); err != nil {
		return m, err
	}
	if m.Flags == nil {
		m.Flags = []string{}
	}
	m.MailboxID, m.UID, m.ModSeq = store.MailboxID(mbox), store.UID(uid), uint64(mod)
	m.InternalDate, m.BlobID = date, hex.EncodeToString(sum)
	if zone != nil {
		m.InternalDate = inZone(date, int(*zone))
	}
	return m, nil
}

// inZone returns t in the zone off seconds east of UTC: t itself when it already has
// that offset, so the common case allocates no Location.
func inZone(t time.Time, off int) time.Time {
	if _, cur := t.Zone(); cur == off {
		return t
	}
	return t.In(time.FixedZone("", off))
}

// Messages implements store.Store. Pages are read one query at a time, so a concurrent
// change may or may not be seen by a later page; each message is reported at most once
// and always in UID order.
func (s *Store) Messages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.Query, fn func(store.Message) error) error {
	if err := s.ownMailbox(ctx, acct, mbox); err != nil {
		return err
	}
	lo, hi := int64(max(q.MinUID, 1)), int64(q.MaxUID)
	if q.MaxUID == 0 {
		hi = math.MaxUint32
	}
	left := q.Limit
	for lo <= hi {
		n := pageSize
		if q.Limit > 0 {
			n = min(n, left)
		}
		page, err := s.messagePage(ctx, acct, int64(mbox), lo, hi, int64(q.ChangedSince), n)
		if err != nil {
			return err
		}
		for _, m := range page {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(page) < n {
			return nil
		}
		if q.Limit > 0 {
			if left -= len(page); left == 0 {
				return nil
			}
		}
		lo = int64(page[len(page)-1].UID) + 1
	}
	return nil
}

func (s *Store) messagePage(ctx context.Context, acct store.AccountRef, mbox, lo, hi, since int64, n int) ([]store.Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+msgCols+` FROM messages m
		JOIN mailboxes x ON x.id = m.mailbox JOIN blobs b ON b.id = m.blob
		WHERE m.mailbox = $1 AND x.domain = $2 AND x.account = $3
			AND m.uid >= $4 AND m.uid <= $5 AND m.modseq > $6
		ORDER BY m.uid LIMIT $7`, mbox, acct.Domain, acct.ID, lo, hi, since, n)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	return page, nil
}

// sortedUIDs returns uids sorted ascending without duplicates or zeros, as int64 for
// the database.
func sortedUIDs(uids []store.UID) []int64 {
	out := make([]int64, 0, len(uids))
	for _, u := range uids {
		if u != 0 {
			out = append(out, int64(u))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// StoreFlags implements store.Store (RFC 9051 6.4.6, RFC 7162 3.1.3). A message whose
// flags do not change keeps its modseq and is not in Changed. Changed messages carry
// ID, mailbox, UID, modseq, flags, internal date, size and blob ID (not Meta). Only the
// mailbox row is locked: flags change neither usage nor the set of mailboxes.
func (s *Store) StoreFlags(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, u store.FlagUpdate) (store.FlagResult, error) {
	flags, err := store.NormalizeFlags(u.Flags)
	if err != nil {
		return store.FlagResult{}, err
	}
	if u.Op != store.FlagsSet && u.Op != store.FlagsAdd && u.Op != store.FlagsRemove {
		return store.FlagResult{}, fmt.Errorf("flag op %d: %w", u.Op, store.ErrInvalid)
	}
	uids := sortedUIDs(u.UIDs)
	var res store.FlagResult
	err = s.write(ctx, func(w *wtx) error {
		res = store.FlagResult{}
		m, err := w.lockMailbox(acct, mbox)
		if err != nil {
			return err
		}
		msgs, err := w.messagesByUID(m.id, uids)
		if err != nil {
			return err
		}
		for _, msg := range msgs {
			w.storeFlags(acct, m, msg.Message, u, flags, &res)
		}
		if len(res.Changed) == 0 {
			return nil
		}
		return w.finish(queueFlags(m, res.Changed))
	})
	return res, err
}

// msgRow is a message with its blob row ID.
type msgRow struct {
	store.Message
	blob int64
}

// messagesByUID reads the messages of a mailbox with the given UIDs, in UID order,
// without Meta.
func (w *wtx) messagesByUID(mbox int64, uids []int64) ([]msgRow, error) {
	rows, err := w.query(`SELECT m.id, m.mailbox, m.uid, m.modseq, m.flags, m.internal_date, m.date_zone, m.size, b.sha256, NULL::bytea, b.id
		FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1 AND m.uid = ANY($2) ORDER BY m.uid`, mbox, uids)
	if err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (msgRow, error) {
		var m msgRow
		var err error
		m.Message, err = scanMessage(withBlob{r, &m.blob})
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	return msgs, nil
}

// withBlob is a row whose last column, the blob ID, scanMessage does not know of.
type withBlob struct {
	pgx.Row
	blob *int64
}

func (r withBlob) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.blob)...) }

// storeFlags applies u to one message in memory: res and the mailbox's counters.
func (w *wtx) storeFlags(acct store.AccountRef, m *mboxRow, msg store.Message, u store.FlagUpdate, flags []string, res *store.FlagResult) {
	if u.UnchangedSince > 0 && msg.ModSeq > u.UnchangedSince {
		res.Modified = append(res.Modified, msg.UID) // RFC 7162 3.1.3
		return
	}
	next := store.ApplyFlags(msg.Flags, u.Op, flags)
	if store.SameFlags(next, msg.Flags) {
		return
	}
	if was, now := store.HasSeen(msg.Flags), store.HasSeen(next); was != now {
		if now {
			m.unseen--
		} else {
			m.unseen++
		}
	}
	msg.Flags, msg.ModSeq = next, uint64(m.nextModSeq())
	res.Changed = append(res.Changed, msg)
	w.emit(store.Change{Kind: store.FlagsChanged, Account: acct, Mailbox: msg.MailboxID, UID: msg.UID,
		ModSeq: msg.ModSeq, Flags: next})
}

// queueFlags queues the update of changed messages' flags and of m's counters.
func queueFlags(m *mboxRow, changed []store.Message) *pgx.Batch {
	n := len(changed)
	ids, flags, seen, mod := make([]int64, n), make([]string, n), make([]bool, n), make([]int64, n)
	for i, c := range changed {
		ids[i], flags[i], seen[i], mod[i] = c.ID, joinFlags(c.Flags), store.HasSeen(c.Flags), int64(c.ModSeq)
	}
	b := &pgx.Batch{}
	b.Queue(`UPDATE messages SET flags = string_to_array(c.flags, ' '), seen = c.seen, modseq = c.modseq
		FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::bigint[]) AS c(id, flags, seen, modseq)
		WHERE messages.id = c.id`, ids, flags, seen, mod)
	queueCounters(b, m)
	return b
}
