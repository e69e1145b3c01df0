package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// Mailboxes implements store.Store.
func (s *Store) Mailboxes(ctx context.Context, acct store.AccountRef) ([]store.Mailbox, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	boxes, err := collectMboxes(s.pool.Query(ctx, `SELECT `+mboxCols+` FROM mailboxes
		WHERE domain = $1 AND account = $2 ORDER BY name`, acct.Domain, acct.ID))
	if err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	if len(boxes) == 0 {
		if _, err := s.Usage(ctx, acct); err != nil {
			return nil, err
		}
	}
	out := make([]store.Mailbox, len(boxes))
	for i, m := range boxes {
		out[i] = m.public()
	}
	return out, nil
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, acct store.AccountRef, name string) (store.Mailbox, error) {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if err := s.live(); err != nil {
		return store.Mailbox{}, err
	}
	m, err := scanMbox(s.pool.QueryRow(ctx, `SELECT `+mboxCols+` FROM mailboxes
		WHERE domain = $1 AND account = $2 AND name = $3`, acct.Domain, acct.ID, n))
	if err != nil {
		return store.Mailbox{}, fmt.Errorf("mailbox %q: %w", name, err)
	}
	return m.public(), nil
}

// validSpecialUse accepts the RFC 6154 2 attributes (and RFC 8457 \Important).
func validSpecialUse(su string) error {
	switch su {
	case "", store.Drafts, store.Sent, store.Trash, store.Junk, store.Archive, `\All`, `\Flagged`, `\Important`:
		return nil
	}
	return fmt.Errorf("special-use %q: %w", su, store.ErrInvalid)
}

// CreateMailbox implements store.Store. Missing parents are created too (RFC 9051 6.3.4).
func (s *Store) CreateMailbox(ctx context.Context, acct store.AccountRef, name, specialUse string) (store.Mailbox, error) {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	if err := validSpecialUse(specialUse); err != nil {
		return store.Mailbox{}, err
	}
	var out store.Mailbox
	err = s.write(ctx, func(w *wtx) error {
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
		if _, err := w.mailboxByName(acct, n); err == nil {
			return fmt.Errorf("mailbox %q: %w", n, store.ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := w.ensureParents(acct, n); err != nil {
			return err
		}
		m, err := w.createMailbox(acct, n, specialUse, false)
		if err != nil {
			return err
		}
		out = m.public()
		return nil
	})
	return out, err
}

// ensureParents creates the missing ancestors of name.
func (w *wtx) ensureParents(acct store.AccountRef, name string) error {
	for i := strings.Index(name, store.MailboxSeparator); i >= 0; {
		parent := name[:i]
		if _, err := w.mailboxByName(acct, parent); errors.Is(err, store.ErrNotFound) {
			if _, err := w.createMailbox(acct, parent, "", false); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		j := strings.Index(name[i+1:], store.MailboxSeparator)
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}

// createMailbox inserts a mailbox with a fresh UIDVALIDITY. The caller holds the account
// lock, so no other transaction creates the same name meanwhile.
func (w *wtx) createMailbox(acct store.AccountRef, name, specialUse string, subscribed bool) (*mboxRow, error) {
	v, err := w.nextUIDValidity()
	if err != nil {
		return nil, err
	}
	m, err := scanMbox(w.row(`INSERT INTO mailboxes (domain, account, name, special_use, subscribed, uidvalidity)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+mboxCols, acct.Domain, acct.ID, name, specialUse, subscribed, v))
	if isUniqueViolation(err) {
		return nil, fmt.Errorf("mailbox %q: %w", name, store.ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	w.emit(store.Change{Kind: store.MailboxCreated, Account: acct, Mailbox: store.MailboxID(m.id), Name: name})
	return m, nil
}

// nextUIDValidity takes the next value of the shard-wide UIDVALIDITY counter, never less
// than the current Unix time, so values differ even across a restore of an old copy
// (RFC 9051 2.3.1.1: a re-created mailbox must not reuse one). The counter row is locked
// until commit, so concurrent creations take distinct values.
func (w *wtx) nextUIDValidity() (int64, error) {
	var v int64
	err := w.row(`UPDATE meta SET value = greatest(value + 1, extract(epoch FROM clock_timestamp())::bigint)
		WHERE key = 'uidvalidity' RETURNING value`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("uidvalidity: %w", err)
	}
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("uidvalidity counter exhausted: %w", store.ErrInvalid)
	}
	return v, nil
}

// SetSubscribed implements store.Store.
func (s *Store) SetSubscribed(ctx context.Context, acct store.AccountRef, name string, on bool) error {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.exec(`UPDATE mailboxes SET subscribed = $1 WHERE domain = $2 AND account = $3 AND name = $4`,
			on, acct.Domain, acct.ID, n)
		if err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("mailbox %q", n)
		}
		return nil
	})
}

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
	case isChild(t, f):
		return fmt.Errorf("rename %q under itself: %w", f, store.ErrInvalid)
	}
	return s.write(ctx, func(w *wtx) error { return w.rename(acct, f, t) })
}

func (w *wtx) rename(acct store.AccountRef, from, to string) error {
	if _, err := w.needAccount(acct); err != nil {
		return err
	}
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
	moved := append([]*mboxRow{m}, children...)
	ids, names := make([]int64, len(moved)), make([]string, len(moved))
	for i, c := range moved {
		ids[i], names[i] = c.id, to+c.name[len(from):]
		if err := store.ValidMailboxName(names[i]); err != nil {
			return err
		}
	}
	if _, err := w.exec(`UPDATE mailboxes SET name = r.name FROM unnest($1::bigint[], $2::text[]) AS r(id, name)
		WHERE mailboxes.id = r.id`, ids, names); err != nil {
		return fmt.Errorf("rename %q: %w", from, err)
	}
	for i, c := range moved {
		w.emit(store.Change{Kind: store.MailboxRenamed, Account: acct, Mailbox: store.MailboxID(c.id),
			Name: names[i], OldName: c.name})
	}
	return nil
}

// children lists the descendants of name, in name order.
func (w *wtx) children(acct store.AccountRef, name string) ([]*mboxRow, error) {
	lo, hi := childRange(name)
	boxes, err := collectMboxes(w.query(`SELECT `+mboxCols+` FROM mailboxes
		WHERE domain = $1 AND account = $2 AND name >= $3 AND name < $4 ORDER BY name`, acct.Domain, acct.ID, lo, hi))
	if err != nil {
		return nil, fmt.Errorf("children of %q: %w", name, err)
	}
	return boxes, nil
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
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
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
		if m, err = w.lockMailbox(acct, store.MailboxID(m.id)); err != nil {
			return err
		}
		b := &pgx.Batch{}
		if err := w.queueRelease(b, []int64{m.id}); err != nil {
			return err
		}
		queueUsage(b, acct, -m.size, -m.messages)
		// Messages and tombstones go with the mailbox (ON DELETE CASCADE).
		b.Queue(`DELETE FROM mailboxes WHERE id = $1`, m.id)
		w.emit(store.Change{Kind: store.MailboxDeleted, Account: acct, Mailbox: store.MailboxID(m.id), Name: m.name})
		return w.finish(b)
	})
}
