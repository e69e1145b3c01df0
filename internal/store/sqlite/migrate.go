package sqlite

// store.Importer and store.BodyReader: the SQLite store as the target of a user migration
// (and as a conformance check of the interfaces; a cluster's shards are PostgreSQL, and
// the embedded shape has one shard, so it is never the source: no store.Fencer, whose
// fence would hold the single write connection). Imports keep the source's UIDVALIDITY,
// UIDs, MODSEQs and flags and publish nothing. A message with a body is one committer job
// (its body is one blob request); a call's jobs are queued together, so they share group
// commits; each job applies its message whole.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"

	"mailgrid/internal/store"
)

var (
	_ store.Importer   = (*Store)(nil)
	_ store.BodyReader = (*Store)(nil)
)

// ImportAccount implements store.Importer.
func (s *Store) ImportAccount(ctx context.Context, acct store.AccountRef) error {
	if err := validAccount(acct); err != nil {
		return err
	}
	_, err := s.c.do(ctx, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO accounts (domain, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, acct.Domain, acct.ID)
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("import account: %w", err)
	}
	return nil
}

// ImportMailbox implements store.Importer.
func (s *Store) ImportMailbox(ctx context.Context, acct store.AccountRef, m store.ImportMailbox) (store.MailboxID, error) {
	if err := store.ValidMailboxName(m.Name); err != nil && m.Name != store.Inbox {
		return 0, fmt.Errorf("import mailbox %q: %w", m.Name, err)
	}
	if m.UIDValidity == 0 {
		return 0, fmt.Errorf("import mailbox %q: UIDVALIDITY 0: %w", m.Name, store.ErrInvalid)
	}
	var id int64
	_, err := s.c.do(ctx, func(w *wtx) error {
		if err := w.needAccount(acct); err != nil {
			return err
		}
		var holder int64
		err := w.row(`SELECT uidvalidity FROM mailboxes WHERE domain = $1 AND account = $2 AND name = $3`,
			acct.Domain, acct.ID, m.Name).Scan(&holder)
		switch {
		case err == nil && holder != int64(m.UIDValidity):
			return fmt.Errorf("import mailbox %q: %w", m.Name, store.ErrExists)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		err = w.row(`SELECT id FROM mailboxes WHERE domain = $1 AND account = $2 AND uidvalidity = $3`,
			acct.Domain, acct.ID, int64(m.UIDValidity)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = w.row(`INSERT INTO mailboxes (domain, account, name, special_use, subscribed, uidvalidity)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, acct.Domain, acct.ID, m.Name, m.SpecialUse,
				m.Subscribed, int64(m.UIDValidity)).Scan(&id)
		case err == nil:
			_, err = w.exec(`UPDATE mailboxes SET name = $2, special_use = $3, subscribed = $4 WHERE id = $1`,
				id, m.Name, m.SpecialUse, m.Subscribed)
		}
		if err != nil {
			return err
		}
		_, err = w.exec(`UPDATE meta SET value = max(value, $1) WHERE key = 'uidvalidity'`, int64(m.UIDValidity))
		return err
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("import mailbox %q: %w", m.Name, err)
	}
	return store.MailboxID(id), nil
}

// DropMailbox implements store.Importer.
func (s *Store) DropMailbox(ctx context.Context, acct store.AccountRef, mbox store.MailboxID) error {
	_, err := s.c.do(ctx, func(w *wtx) error {
		m, err := w.mailboxByID(acct, mbox)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		n := len(w.j.changes)
		err = w.purgeMailbox(acct, m)
		w.j.changes = w.j.changes[:n] // imports publish nothing
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("drop mailbox: %w", err)
	}
	return nil
}

// ImportMessages implements store.Importer.
func (s *Store) ImportMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, msgs []store.ImportMessage) error {
	if err := s.importMessages(ctx, acct, mbox, msgs); err != nil {
		return err
	}
	s.idx.MarkMailbox(mbox) // the imported bodies join the text index in the background
	return nil
}

func (s *Store) importMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, msgs []store.ImportMessage) error {
	var flagsOnly []store.ImportMessage
	var wg sync.WaitGroup
	errs := make([]error, len(msgs))
	for i, im := range msgs {
		flags, err := store.NormalizeFlags(im.Flags)
		if err != nil || im.UID == 0 {
			return fmt.Errorf("import UID %d: %w", im.UID, errors.Join(err, store.ErrInvalid))
		}
		im.Flags = flags
		if im.Body == nil {
			flagsOnly = append(flagsOnly, im)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.importOne(ctx, acct, mbox, im)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("import messages: %w", err)
	}
	if len(flagsOnly) == 0 {
		return nil
	}
	_, err := s.c.do(ctx, func(w *wtx) error {
		m, err := w.mailboxByID(acct, mbox)
		if err != nil {
			return err
		}
		for _, im := range flagsOnly {
			if err := w.importFlags(m, im); err != nil {
				return err
			}
		}
		return w.saveCounters(m)
	}, nil)
	if err != nil {
		return fmt.Errorf("import flags: %w", err)
	}
	return nil
}

// importOne stores one message with its body: inserted if the UID is new, else its
// flags and modseq are set.
func (s *Store) importOne(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, im store.ImportMessage) error {
	req := &blobReq{body: im.Body}
	if err := hashBody(im.Body, req); err != nil {
		return err
	}
	_, err := s.c.do(ctx, func(w *wtx) error {
		if err := w.needAccount(acct); err != nil {
			return err
		}
		m, err := w.mailboxByID(acct, mbox)
		if err != nil {
			return err
		}
		var one int
		err = w.row(`SELECT 1 FROM messages WHERE mailbox = $1 AND uid = $2`, m.id, int64(im.UID)).Scan(&one)
		if err == nil {
			if err := w.importFlags(m, im); err != nil {
				return err
			}
			return w.saveCounters(m)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		size := im.Body.Size()
		seen := store.HasSeen(im.Flags)
		_, zone := im.InternalDate.Zone()
		if err := w.putSortKeys(m.id, int64(im.UID), store.KeysOf(im.Meta)); err != nil {
			return err
		}
		if _, err := w.exec(`INSERT INTO messages (mailbox, uid, modseq, flags, seen, internal_date, date_zone, size, blob, meta)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, m.id, int64(im.UID), int64(im.ModSeq), joinFlags(im.Flags),
			seen, im.InternalDate.UnixNano(), zone, size, req.id, im.Meta); err != nil {
			return fmt.Errorf("insert message: %w", err)
		}
		m.count(1, size, seen)
		m.uidNext = max(m.uidNext, int64(im.UID)+1)
		if err := w.addRefs(req.id, 1); err != nil {
			return err
		}
		if err := w.addUsage(acct, size, 1); err != nil {
			return err
		}
		return w.saveCounters(m)
	}, req)
	return err
}

// hashBody fills req.sum with the SHA-256 of body.
func hashBody(body store.Body, req *blobReq) error {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(body, 0, body.Size())); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	h.Sum(req.sum[:0])
	return nil
}

// importFlags sets a held UID's flags and modseq (m's unseen counter follows; the caller
// saves m). ErrNotFound if m does not hold the UID.
func (w *wtx) importFlags(m *mboxRow, im store.ImportMessage) error {
	var was bool
	err := w.row(`SELECT seen FROM messages WHERE mailbox = $1 AND uid = $2`, m.id, int64(im.UID)).Scan(&was)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("UID %d: %w", im.UID, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	seen := store.HasSeen(im.Flags)
	if _, err := w.exec(`UPDATE messages SET flags = $3, seen = $4, modseq = $5 WHERE mailbox = $1 AND uid = $2`,
		m.id, int64(im.UID), joinFlags(im.Flags), seen, int64(im.ModSeq)); err != nil {
		return err
	}
	switch {
	case was && !seen:
		m.unseen++
	case !was && seen:
		m.unseen--
	}
	return nil
}

// ImportExpunged implements store.Importer.
func (s *Store) ImportExpunged(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uids []store.UID, modseq uint64) error {
	uids = sortedUIDs(uids)
	if len(uids) == 0 {
		return nil
	}
	_, err := s.c.do(ctx, func(w *wtx) error {
		m, err := w.mailboxByID(acct, mbox)
		if err != nil {
			return err
		}
		var bytes, n int64
		for _, uid := range uids {
			var r removed
			var seen bool
			err := w.row(`DELETE FROM messages WHERE mailbox = $1 AND uid = $2 RETURNING blob, size, seen`,
				m.id, int64(uid)).Scan(&r.blob, &r.size, &seen)
			switch {
			case err == nil:
				m.count(-1, r.size, seen)
				bytes, n = bytes+r.size, n+1
				if err := w.addRefs(r.blob, -1); err != nil {
					return err
				}
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, err := w.exec(`INSERT OR IGNORE INTO expunged (mailbox, uid, modseq) VALUES ($1, $2, $3)`,
				m.id, int64(uid), int64(modseq)); err != nil {
				return err
			}
		}
		if err := w.addUsage(acct, -bytes, -n); err != nil {
			return err
		}
		return w.saveCounters(m)
	}, nil)
	if err != nil {
		return fmt.Errorf("import expunged: %w", err)
	}
	return nil
}

// SetMailboxSync implements store.Importer.
func (s *Store) SetMailboxSync(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uidNext store.UID, modseq uint64) error {
	_, err := s.c.do(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE mailboxes SET highestmodseq = $4, uidnext = max(uidnext, $5)
			WHERE id = $1 AND domain = $2 AND account = $3`, int64(mbox), acct.Domain, acct.ID, int64(modseq), int64(uidNext))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, fmt.Errorf("mailbox %d: %w", mbox, store.ErrNotFound))
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("mailbox sync: %w", err)
	}
	return nil
}

// ReadBodies implements store.BodyReader (bodies are local files: one OpenBlob each).
func (s *Store) ReadBodies(ctx context.Context, acct store.AccountRef, ids []int64, fn func(id int64, body []byte) error) error {
	for _, id := range ids {
		bl, err := s.OpenBlob(ctx, acct, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		data := make([]byte, bl.Size())
		_, err = bl.ReadAt(data, 0)
		if errors.Is(err, io.EOF) && int64(len(data)) == bl.Size() {
			err = nil
		}
		if cerr := bl.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("read body of message %d: %w", id, err)
		}
		if err := fn(id, data); err != nil {
			return err
		}
	}
	return nil
}
