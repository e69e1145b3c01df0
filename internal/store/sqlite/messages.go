package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"mailgrid/internal/store"
)

// pageSize is how many messages Messages reads per query: the iteration holds no read
// transaction while fn runs, and never more than one page in memory.
const pageSize = 256

// ownMailbox checks, on the read pool, that mbox belongs to acct.
func (s *Store) ownMailbox(ctx context.Context, acct store.AccountRef, mbox store.MailboxID) error {
	var one int
	err := s.rrow(ctx, `SELECT 1 FROM mailboxes WHERE id = $1 AND domain = $2 AND account = $3`,
		int64(mbox), acct.Domain, acct.ID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mailbox %d: %w", mbox, store.ErrNotFound)
	}
	return err
}

const msgCols = `m.id, m.mailbox, m.uid, m.modseq, m.flags, m.internal_date, m.date_zone, m.size, b.sha256, m.meta`

// msgColsNoMeta is msgCols for a Query with NoMeta: the meta column (the largest, often
// in overflow pages) is not read at all.
const msgColsNoMeta = `m.id, m.mailbox, m.uid, m.modseq, m.flags, m.internal_date, m.date_zone, m.size, b.sha256, NULL`

func scanMessage(sc scanner) (store.Message, error) {
	var (
		m     store.Message
		flags string
		date  int64
		zone  sql.NullInt64
		sum   []byte
	)
	if err := sc.Scan(&m.ID, &m.MailboxID, &m.UID, &m.ModSeq, &flags, &date, &zone, &m.Size, &sum, &m.Meta); err != nil {
		return m, err
	}
	m.Flags, m.InternalDate, m.BlobID = splitFlags(flags), time.Unix(0, date), hex.EncodeToString(sum)
	if zone.Valid {
		m.InternalDate = inZone(m.InternalDate, zone.Int64)
	}
	return m, nil
}

// Messages implements store.Store. Pages are read one query at a time, so a concurrent
// change may or may not be seen by a later page; each message is reported at most once
// and always in UID order. With q.NoMeta the meta column is not read and Meta is nil.
// The page query joins the mailbox's owner, so only an empty first page needs the
// separate ownership check (a FETCH of one message is one query, not two).
func (s *Store) Messages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, q store.Query, fn func(store.Message) error) error {
	first := true
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
		page, err := s.messagePage(ctx, acct, int64(mbox), lo, hi, int64(q.ChangedSince), n, q.NoMeta)
		if err != nil {
			return err
		}
		if first && len(page) == 0 {
			return s.ownMailbox(ctx, acct, mbox) // ErrNotFound, or an empty answer
		}
		first = false
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

func (s *Store) messagePage(ctx context.Context, acct store.AccountRef, mbox, lo, hi, since int64, n int, noMeta bool) ([]store.Message, error) {
	cols := msgCols
	if noMeta {
		cols = msgColsNoMeta
	}
	rows, err := s.rquery(ctx, `SELECT `+cols+` FROM mailboxes x JOIN messages m ON m.mailbox = x.id JOIN blobs b ON b.id = m.blob
		WHERE x.id = $1 AND x.domain = $6 AND x.account = $7 AND m.uid >= $2 AND m.uid <= $3 AND m.modseq > $4
		ORDER BY m.uid LIMIT $5`,
		mbox, lo, hi, since, n, acct.Domain, acct.ID)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	page := make([]store.Message, 0, min(int64(n), hi-lo+1)) // UIDs are unique: a FETCH of one reads one
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("messages: %w", err), rows.Close())
		}
		page = append(page, m)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	return page, nil
}

// OpenBlob implements store.Store.
func (s *Store) OpenBlob(ctx context.Context, acct store.AccountRef, messageID int64) (store.Blob, error) {
	var loc blobLoc
	err := s.rrow(ctx, `SELECT b.pack, b.off, b.len FROM messages m
		JOIN mailboxes x ON x.id = m.mailbox JOIN blobs b ON b.id = m.blob
		WHERE m.id = $1 AND x.domain = $2 AND x.account = $3`, messageID, acct.Domain, acct.ID).
		Scan(&loc.pack, &loc.off, &loc.len)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %d: %w", messageID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return s.packs.open(loc)
}

// sortedUIDs returns uids sorted ascending without duplicates or zeros.
func sortedUIDs(uids []store.UID) []store.UID {
	out := slices.Clone(uids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 0 && out[0] == 0 {
		out = out[1:]
	}
	return out
}

// StoreFlags implements store.Store (RFC 9051 6.4.6, RFC 7162 3.1.3). A message whose
// flags do not change keeps its modseq and is not in Changed. Changed messages carry
// ID, mailbox, UID, modseq, flags, internal date and size (not Meta).
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
	_, err = s.c.do(ctx, func(w *wtx) error {
		res = store.FlagResult{}
		m, err := w.mailboxByID(acct, mbox)
		if err != nil {
			return err
		}
		for _, uid := range uids {
			if err := w.storeFlags(acct, m, uid, u, flags, &res); err != nil {
				return err
			}
		}
		if len(res.Changed) == 0 {
			return nil // nothing changed: the counters neither (one statement less)
		}
		return w.saveCounters(m)
	}, nil)
	return res, err
}

func (w *wtx) storeFlags(acct store.AccountRef, m *mboxRow, uid store.UID, u store.FlagUpdate, flags []string, res *store.FlagResult) error {
	msg, err := scanMessage(w.row(`SELECT m.id, m.mailbox, m.uid, m.modseq, m.flags, m.internal_date, m.date_zone, m.size, b.sha256, NULL
		FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.mailbox = $1 AND m.uid = $2`, m.id, int64(uid)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // not there (any more): nothing to change, nothing to report
	}
	if err != nil {
		return fmt.Errorf("store flags: %w", err)
	}
	if u.UnchangedSince > 0 && msg.ModSeq > u.UnchangedSince {
		res.Modified = append(res.Modified, uid) // RFC 7162 3.1.3
		return nil
	}
	next := store.ApplyFlags(msg.Flags, u.Op, flags)
	if store.SameFlags(next, msg.Flags) {
		return nil
	}
	modseq := m.nextModSeq()
	seen := store.HasSeen(next)
	if _, err := w.exec(`UPDATE messages SET flags = $1, seen = $2, modseq = $3 WHERE id = $4`,
		joinFlags(next), seen, modseq, msg.ID); err != nil {
		return fmt.Errorf("store flags: %w", err)
	}
	if was := store.HasSeen(msg.Flags); was != seen {
		if seen {
			m.unseen--
		} else {
			m.unseen++
		}
	}
	msg.Flags, msg.ModSeq = next, uint64(modseq)
	res.Changed = append(res.Changed, msg)
	w.emit(store.Change{Kind: store.FlagsChanged, Account: acct, Mailbox: msg.MailboxID, UID: uid,
		ModSeq: msg.ModSeq, Flags: next})
	return nil
}

// inZone returns t in the zone off seconds east of UTC: t itself (local time) when the
// local zone has that offset then, so the common case allocates no Location.
func inZone(t time.Time, off int64) time.Time {
	if _, local := t.Zone(); int64(local) == off {
		return t
	}
	return t.In(time.FixedZone("", int(off)))
}
