package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"mailgrid/internal/store"
)

// Expunge implements store.Store. Each removed message takes a new modseq and leaves a
// tombstone (RFC 7162 3.2.10); UIDs that do not exist are ignored.
func (s *Store) Expunge(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uids []store.UID) ([]store.UID, error) {
	want := sortedUIDs(uids)
	var gone []store.UID
	err := s.write(ctx, func(w *wtx) error {
		gone = nil
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
		m, err := w.lockMailbox(acct, mbox)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		if gone, err = w.expunge(b, acct, m, want, true); err != nil {
			return err
		}
		return w.finish(b)
	})
	if err != nil {
		return nil, err
	}
	return gone, nil
}

// removed is a deleted messages row.
type removed struct {
	uid, blob, size int64
	seen            bool
}

// expunge deletes uids from m (locked), emits their expunge changes and queues their
// tombstones and m's counters on b. With release, blob references and usage are
// released (Expunge); without, they stay with the copies (Move).
func (w *wtx) expunge(b *pgx.Batch, acct store.AccountRef, m *mboxRow, uids []int64, release bool) ([]store.UID, error) {
	rows, err := w.query(`DELETE FROM messages WHERE mailbox = $1 AND uid = ANY($2) RETURNING uid, blob, size, seen`, m.id, uids)
	if err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	dels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (removed, error) {
		var d removed
		err := r.Scan(&d.uid, &d.blob, &d.size, &d.seen)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	slices.SortFunc(dels, func(x, y removed) int { return cmpInt(x.uid, y.uid) })
	var (
		gone    = make([]store.UID, len(dels))
		tombUID = make([]int64, len(dels))
		tombMod = make([]int64, len(dels))
		refs    = map[int64]int64{}
		bytes   int64
	)
	for i, d := range dels {
		modseq := m.nextModSeq()
		m.count(-1, d.size, d.seen)
		gone[i], tombUID[i], tombMod[i] = store.UID(d.uid), d.uid, modseq
		refs[d.blob]--
		bytes += d.size
		w.emit(store.Change{Kind: store.MessageExpunged, Account: acct, Mailbox: store.MailboxID(m.id),
			UID: store.UID(d.uid), ModSeq: uint64(modseq)})
	}
	if len(dels) == 0 {
		return gone, nil
	}
	b.Queue(`INSERT INTO expunged (mailbox, uid, modseq) SELECT $1, t.uid, t.modseq
		FROM unnest($2::bigint[], $3::bigint[]) AS t(uid, modseq)`, m.id, tombUID, tombMod)
	queueCounters(b, m)
	if release {
		queueUsage(b, acct, -bytes, -int64(len(dels)))
		queueRefs(b, refs)
	}
	return gone, nil
}

func cmpInt(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// Copy implements store.Store (RFC 9051 6.4.7: flags and internal date are kept; RFC 4315
// COPYUID pairs in source UID order). The copies share their bodies with the originals.
// If the copies would take the account over quota, nothing is copied: ErrOverQuota.
func (s *Store) Copy(ctx context.Context, acct store.AccountRef, src store.MailboxID, uids []store.UID, dst store.MailboxID, quota store.Quota) ([]store.UIDPair, error) {
	want := sortedUIDs(uids)
	var pairs []store.UIDPair
	err := s.write(ctx, func(w *wtx) error {
		pairs = nil
		u, err := w.needAccount(acct)
		if err != nil {
			return err
		}
		from, to, err := w.mailboxPair(acct, src, dst)
		if err != nil {
			return err
		}
		msgs, err := w.messagesByUID(from.id, want)
		if err != nil || len(msgs) == 0 {
			return err
		}
		var bytes int64
		refs := map[int64]int64{}
		for _, m := range msgs {
			bytes += m.Size
			refs[m.blob]++
		}
		if overQuota(u, quota, bytes, int64(len(msgs))) {
			return store.ErrOverQuota
		}
		b := &pgx.Batch{}
		if pairs, err = w.queueCopies(b, acct, from, to, msgs); err != nil {
			return err
		}
		queueUsage(b, acct, bytes, int64(len(msgs)))
		queueRefs(b, refs)
		return w.finish(b)
	})
	if err != nil {
		return nil, err
	}
	if len(pairs) > 0 {
		s.idx.MarkMailbox(dst) // the copies' mailbox gets its index state checked in the background
	}
	return pairs, nil
}

// Move implements store.Store (RFC 6851): the copies are added and the originals expunged
// in one commit, so no session ever sees both or neither. Usage and blob references do
// not change. Moving a mailbox's messages to itself is ErrInvalid.
func (s *Store) Move(ctx context.Context, acct store.AccountRef, src store.MailboxID, uids []store.UID, dst store.MailboxID) ([]store.UIDPair, error) {
	if src == dst {
		return nil, fmt.Errorf("move to the same mailbox: %w", store.ErrInvalid)
	}
	want := sortedUIDs(uids)
	var pairs []store.UIDPair
	err := s.write(ctx, func(w *wtx) error {
		pairs = nil
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
		from, to, err := w.mailboxPair(acct, src, dst)
		if err != nil {
			return err
		}
		msgs, err := w.messagesByUID(from.id, want)
		if err != nil || len(msgs) == 0 {
			return err
		}
		b := &pgx.Batch{}
		if pairs, err = w.queueCopies(b, acct, from, to, msgs); err != nil {
			return err
		}
		// The copies are inserted (queued) before the originals go: send them first.
		if err := w.send(b); err != nil {
			return fmt.Errorf("move: %w", err)
		}
		moved := make([]int64, len(pairs))
		for i, p := range pairs {
			moved[i] = int64(p.Src)
		}
		b = &pgx.Batch{}
		if _, err := w.expunge(b, acct, from, moved, false); err != nil {
			return err
		}
		return w.finish(b)
	})
	if err != nil {
		return nil, err
	}
	if len(pairs) > 0 {
		s.idx.MarkMailbox(dst) // the copies' mailbox gets its index state checked in the background
	}
	return pairs, nil
}

// mailboxPair locks a source and a destination mailbox of acct, in ID order.
func (w *wtx) mailboxPair(acct store.AccountRef, src, dst store.MailboxID) (from, to *mboxRow, err error) {
	boxes, err := w.lockMailboxes(acct, int64(src), int64(dst))
	if err != nil {
		return nil, nil, err
	}
	from, to = boxes[int64(src)], boxes[int64(dst)]
	if from == nil {
		return nil, nil, notFound("mailbox %d", src)
	}
	if to == nil {
		return nil, nil, notFound("mailbox %d", dst)
	}
	return from, to, nil
}

// queueCopies queues copies of msgs (in UID order) into to, each with to's next UID and
// modseq, and to's counters, and emits the additions. Blob references are the caller's.
func (w *wtx) queueCopies(b *pgx.Batch, acct store.AccountRef, from, to *mboxRow, msgs []msgRow) ([]store.UIDPair, error) {
	n := len(msgs)
	pairs := make([]store.UIDPair, n)
	src, dst, mod := make([]int64, n), make([]int64, n), make([]int64, n)
	for i, m := range msgs {
		uid, err := to.nextUID()
		if err != nil {
			return nil, err
		}
		src[i], dst[i], mod[i] = int64(m.UID), uid, to.nextModSeq()
		to.count(1, m.Size, store.HasSeen(m.Flags))
		pairs[i] = store.UIDPair{Src: m.UID, Dst: store.UID(uid)}
		w.emit(store.Change{Kind: store.MessageAdded, Account: acct, Mailbox: store.MailboxID(to.id),
			UID: store.UID(uid), ModSeq: uint64(mod[i]), Flags: m.Flags})
	}
	// The copies' sort keys and header text are the sources' (schema version 6, 8),
	// written before the copies so the insert trigger keeps them; a source still without
	// keys (written before version 6) leaves its copy's to the trigger and the lazy fill,
	// as one without header text (before 8) does for the text.
	b.Queue(`INSERT INTO sort_keys (mailbox, uid, sender, subject, h_from, h_to, h_cc, h_bcc, h_subject)
		SELECT $1, c.uid, k.sender, k.subject, k.h_from, k.h_to, k.h_cc, k.h_bcc, k.h_subject
		FROM unnest($2::bigint[], $3::bigint[]) AS c(src, uid)
		JOIN sort_keys k ON k.mailbox = $4 AND k.uid = c.src WHERE k.subject IS NOT NULL
		ON CONFLICT (mailbox, uid) DO UPDATE SET sender = excluded.sender, subject = excluded.subject,
			h_from = excluded.h_from, h_to = excluded.h_to, h_cc = excluded.h_cc, h_bcc = excluded.h_bcc,
			h_subject = excluded.h_subject`,
		to.id, src, dst, from.id)
	b.Queue(`INSERT INTO messages (mailbox, uid, modseq, flags, seen, internal_date, size, blob, meta, date_zone)
		SELECT $1, c.uid, c.modseq, m.flags, m.seen, m.internal_date, m.size, m.blob, m.meta, m.date_zone
		FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS c(src, uid, modseq)
		JOIN messages m ON m.mailbox = $5 AND m.uid = c.src
		`, to.id, src, dst, mod, from.id).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != int64(n) {
			return fmt.Errorf("copy: %d of %d messages copied", tag.RowsAffected(), n)
		}
		return nil
	})
	queueCounters(b, to)
	return pairs, nil
}

// Vanished returns, in UID order, the UIDs expunged from a mailbox of acct with a modseq
// above since: what QRESYNC's VANISHED (EARLIER) response reports (RFC 7162 3.2.10).
func (s *Store) Vanished(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, since uint64) ([]store.UID, error) {
	if err := s.ownMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT e.uid FROM expunged e JOIN mailboxes x ON x.id = e.mailbox
		WHERE e.mailbox = $1 AND x.domain = $2 AND x.account = $3 AND e.modseq > $4 ORDER BY e.uid`,
		int64(mbox), acct.Domain, acct.ID, int64(since))
	if err != nil {
		return nil, fmt.Errorf("vanished: %w", err)
	}
	uids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.UID, error) {
		var u int64
		err := r.Scan(&u)
		return store.UID(u), err
	})
	if err != nil {
		return nil, fmt.Errorf("vanished: %w", err)
	}
	return uids, nil
}
