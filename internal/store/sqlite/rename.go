package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"mailgrid/internal/store"
)

// RenameMailbox implements store.Store. The mailbox keeps its ID, UIDVALIDITY and UIDs
// (RFC 9051 6.3.6); its children move with it; missing parents of the new name are
// created. Renaming INBOX is ErrProtected; renaming onto an existing name, INBOX
// included, is ErrExists; renaming a mailbox under itself is ErrInvalid.
func (s *Store) RenameMailbox(ctx context.Context, acct store.AccountRef, from, to string) error {
	f, err := store.NormalizeMailboxName(from)
	if err != nil {
		return err
	}
	t, err := store.NormalizeMailboxName(to)
	if err != nil {
		return err
	}
	switch {
	case f == store.Inbox:
		return fmt.Errorf("rename INBOX: %w", store.ErrProtected)
	case t == store.Inbox || t == f:
		return fmt.Errorf("rename to %q: %w", t, store.ErrExists)
	case strings.HasPrefix(t, f+store.MailboxSeparator):
		return fmt.Errorf("rename %q under itself: %w", f, store.ErrInvalid)
	}
	_, err = s.c.do(ctx, func(w *wtx) error { return w.rename(acct, f, t) }, nil)
	return err
}

func (w *wtx) rename(acct store.AccountRef, from, to string) error {
	m, err := w.mailboxByName(acct, from)
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", from, err)
	}
	if _, err := w.mailboxByName(acct, to); err == nil {
		return fmt.Errorf("mailbox %q: %w", to, store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	children, err := w.children(acct, from)
	if err != nil {
		return err
	}
	if err := w.ensureParents(acct, to); err != nil {
		return err
	}
	type move struct {
		id       int64
		old, new string
	}
	moves := []move{{m.id, from, to}}
	for _, c := range children {
		moves = append(moves, move{c.id, c.name, to + c.name[len(from):]})
	}
	for _, mv := range moves {
		if err := store.ValidMailboxName(mv.new); err != nil {
			return err
		}
		if _, err := w.exec(`UPDATE mailboxes SET name = $1 WHERE id = $2`, mv.new, mv.id); err != nil {
			return fmt.Errorf("rename %q: %w", mv.old, err)
		}
		w.emit(store.Change{Kind: store.MailboxRenamed, Account: acct, Mailbox: store.MailboxID(mv.id),
			Name: mv.new, OldName: mv.old})
	}
	return nil
}

// idName is a mailbox's ID and name.
type idName struct {
	id   int64
	name string
}

// children lists the descendants of name, in name order.
func (w *wtx) children(acct store.AccountRef, name string) ([]idName, error) {
	lo, hi := childRange(name)
	rows, err := w.query(`SELECT id, name FROM mailboxes
		WHERE domain = $1 AND account = $2 AND name >= $3 AND name < $4 ORDER BY name`, acct.Domain, acct.ID, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("children of %q: %w", name, err)
	}
	var out []idName
	for rows.Next() {
		var c idName
		if err := rows.Scan(&c.id, &c.name); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		out = append(out, c)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

// DeleteMailbox implements store.Store. A mailbox with children is ErrHasChildren (as
// Dovecot and mox refuse it, rather than leaving a \Noselect placeholder); INBOX is
// ErrProtected. Its messages go with it, releasing their blobs and quota usage.
func (s *Store) DeleteMailbox(ctx context.Context, acct store.AccountRef, name string) error {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return err
	}
	if n == store.Inbox {
		return fmt.Errorf("delete INBOX: %w", store.ErrProtected)
	}
	_, err = s.c.do(ctx, func(w *wtx) error {
		m, err := w.mailboxByName(acct, n)
		if err != nil {
			return fmt.Errorf("mailbox %q: %w", n, err)
		}
		kids, err := w.children(acct, n)
		if err != nil {
			return err
		}
		if len(kids) > 0 {
			return fmt.Errorf("mailbox %q: %w", n, store.ErrHasChildren)
		}
		return w.purgeMailbox(acct, m)
	}, nil)
	return err
}

// purgeMailbox deletes a mailbox with its messages and tombstones, releasing blob
// references and usage.
func (w *wtx) purgeMailbox(acct store.AccountRef, m *mboxRow) error {
	_, err := w.exec(`UPDATE blobs SET refs = refs - g.n
		FROM (SELECT blob, count(*) AS n FROM messages WHERE mailbox = $1 GROUP BY blob) AS g
		WHERE blobs.id = g.blob`, m.id)
	if err != nil {
		return fmt.Errorf("release blobs of %q: %w", m.name, err)
	}
	if err := w.addUsage(acct, -m.size, -m.messages); err != nil {
		return err
	}
	if _, err := w.exec(`DELETE FROM messages WHERE mailbox = $1`, m.id); err != nil {
		return fmt.Errorf("delete messages of %q: %w", m.name, err)
	}
	if _, err := w.exec(`DELETE FROM mailboxes WHERE id = $1`, m.id); err != nil {
		return fmt.Errorf("delete mailbox %q: %w", m.name, err)
	}
	w.emit(store.Change{Kind: store.MailboxDeleted, Account: acct, Mailbox: store.MailboxID(m.id), Name: m.name})
	return nil
}
