package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"mailgrid/internal/store"
)

// Expunge implements store.Store. Each removed message takes a new modseq and leaves a
// tombstone (RFC 7162 3.2.10); UIDs that do not exist are ignored.
func (s *Store) Expunge(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uids []store.UID) ([]store.UID, error) {
	want := sortedUIDs(uids)
	var gone []store.UID
	_, err := s.c.do(ctx, func(w *wtx) error {
		gone = nil
		m, err := w.mailboxByID(acct, mbox)
		if err != nil {
			return err
		}
		gone, err = w.expunge(acct, m, want, true)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return gone, nil
}

// expunge removes uids from m and saves m's counters. With release, blob references and
// usage are released (Expunge); without, they stay with the copies (Move).
func (w *wtx) expunge(acct store.AccountRef, m *mboxRow, uids []store.UID, release bool) ([]store.UID, error) {
	var (
		gone  []store.UID
		refs  = map[int64]int64{}
		bytes int64
	)
	for _, uid := range uids {
		r, modseq, ok, err := w.removeMessage(m, uid)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		gone = append(gone, uid)
		refs[r.blob]++
		bytes += r.size
		w.emit(store.Change{Kind: store.MessageExpunged, Account: acct, Mailbox: store.MailboxID(m.id),
			UID: uid, ModSeq: uint64(modseq)})
	}
	if err := w.saveCounters(m); err != nil {
		return nil, err
	}
	if !release {
		return gone, nil
	}
	for blob, n := range refs {
		if err := w.addRefs(blob, -n); err != nil {
			return nil, err
		}
	}
	return gone, w.addUsage(acct, -bytes, -int64(len(gone)))
}

// Copy implements store.Store (RFC 9051 6.4.7: flags and internal date are kept; RFC 4315
// COPYUID pairs in source UID order). The copies share their bodies with the originals.
// If the copies would take the account over quota, nothing is copied: ErrOverQuota.
func (s *Store) Copy(ctx context.Context, acct store.AccountRef, src store.MailboxID, uids []store.UID, dst store.MailboxID, quota store.Quota) ([]store.UIDPair, error) {
	want := sortedUIDs(uids)
	var pairs []store.UIDPair
	_, err := s.c.do(ctx, func(w *wtx) error {
		pairs = nil
		from, to, err := w.mailboxPair(acct, src, dst)
		if err != nil {
			return err
		}
		var copied []copied
		pairs, copied, err = w.copyMessages(acct, from, to, want)
		if err != nil || len(pairs) == 0 {
			return err
		}
		var bytes int64
		for _, c := range copied {
			bytes += c.size
			if err := w.addRefs(c.blob, 1); err != nil {
				return err
			}
		}
		if err := w.addUsage(acct, bytes, int64(len(copied))); err != nil {
			return err
		}
		u, _, err := w.usage(acct)
		if err == nil && overQuota(u, quota, 0, 0) {
			err = store.ErrOverQuota
		}
		return err
	}, nil)
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
	_, err := s.c.do(ctx, func(w *wtx) error {
		pairs = nil
		from, to, err := w.mailboxPair(acct, src, dst)
		if err != nil {
			return err
		}
		if pairs, _, err = w.copyMessages(acct, from, to, want); err != nil {
			return err
		}
		moved := make([]store.UID, len(pairs))
		for i, p := range pairs {
			moved[i] = p.Src
		}
		_, err = w.expunge(acct, from, moved, false)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	if len(pairs) > 0 {
		s.idx.MarkMailbox(dst) // the copies' mailbox gets its index state checked in the background
	}
	return pairs, nil
}

// mailboxPair loads a source and a destination mailbox of acct.
func (w *wtx) mailboxPair(acct store.AccountRef, src, dst store.MailboxID) (from, to *mboxRow, err error) {
	if from, err = w.mailboxByID(acct, src); err != nil {
		return nil, nil, err
	}
	if src == dst {
		return from, from, nil
	}
	if to, err = w.mailboxByID(acct, dst); err != nil {
		return nil, nil, err
	}
	return from, to, nil
}

// copied is what a copy took: for references and usage.
type copied struct {
	blob, size int64
}

// copyMessages copies the existing messages among uids (ascending) from one mailbox to
// another, each taking the destination's next UID and modseq, and saves the
// destination's counters. Missing UIDs are skipped.
func (w *wtx) copyMessages(acct store.AccountRef, from, to *mboxRow, uids []store.UID) ([]store.UIDPair, []copied, error) {
	var (
		pairs []store.UIDPair
		out   []copied
	)
	for _, uid := range uids {
		if to.uidNext > math.MaxUint32 {
			return nil, nil, fmt.Errorf("mailbox %q: UID space exhausted: %w", to.name, store.ErrInvalid)
		}
		newUID, modseq := to.uidNext, to.modSeq+1
		var (
			c     copied
			flags string
			seen  bool
		)
		// The copy's sort keys and header text are the source's (schema version 6, 7); a
		// source still without keys (written before version 6) leaves the copy's to the
		// trigger and lazy fill, as one without header text (before 7) does for the text.
		if _, err := w.exec(`INSERT OR REPLACE INTO sort_keys (mailbox, uid, sender, subject, h_from, h_to, h_cc, h_bcc, h_subject)
			SELECT $1, $2, sender, subject, h_from, h_to, h_cc, h_bcc, h_subject FROM sort_keys
			WHERE mailbox = $3 AND uid = $4 AND subject IS NOT NULL`,
			to.id, newUID, from.id, int64(uid)); err != nil {
			return nil, nil, fmt.Errorf("copy sort keys: %w", err)
		}
		err := w.row(`INSERT INTO messages (mailbox, uid, modseq, flags, seen, internal_date, date_zone, size, blob, meta)
			SELECT $1, $2, $3, flags, seen, internal_date, date_zone, size, blob, meta FROM messages WHERE mailbox = $4 AND uid = $5
			RETURNING flags, seen, size, blob`, to.id, newUID, modseq, from.id, int64(uid)).Scan(&flags, &seen, &c.size, &c.blob)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("copy message: %w", err)
		}
		to.uidNext, to.modSeq = newUID+1, modseq
		to.count(1, c.size, seen)
		pairs = append(pairs, store.UIDPair{Src: uid, Dst: store.UID(newUID)})
		out = append(out, c)
		w.emit(store.Change{Kind: store.MessageAdded, Account: acct, Mailbox: store.MailboxID(to.id),
			UID: store.UID(newUID), ModSeq: uint64(modseq), Flags: splitFlags(flags)})
	}
	return pairs, out, w.saveCounters(to)
}

// Vanished returns, in UID order, the UIDs expunged from a mailbox of acct with a modseq
// above since: what QRESYNC's VANISHED (EARLIER) response reports (RFC 7162 3.2.10). It
// is not in store.Store yet; front-ends can reach it through a type assertion.
func (s *Store) Vanished(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, since uint64) ([]store.UID, error) {
	if err := s.ownMailbox(ctx, acct, mbox); err != nil {
		return nil, err
	}
	rows, err := s.rquery(ctx, `SELECT uid FROM expunged WHERE mailbox = $1 AND modseq > $2 ORDER BY uid`,
		int64(mbox), int64(since))
	if err != nil {
		return nil, fmt.Errorf("vanished: %w", err)
	}
	var out []store.UID
	for rows.Next() {
		var uid store.UID
		if err := rows.Scan(&uid); err != nil {
			return nil, errors.Join(fmt.Errorf("vanished: %w", err), rows.Close())
		}
		out = append(out, uid)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("vanished: %w", err)
	}
	return out, nil
}
