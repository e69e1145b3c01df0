package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"mailgrid/internal/store"
)

// Mailboxes implements store.Store.
func (s *Store) Mailboxes(ctx context.Context, acct store.AccountRef) ([]store.Mailbox, error) {
	rows, err := s.rquery(ctx, `SELECT `+mboxCols+` FROM mailboxes WHERE domain = $1 AND account = $2 ORDER BY name`,
		acct.Domain, acct.ID)
	if err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMbox(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("mailboxes: %w", err), rows.Close())
		}
		out = append(out, m.public())
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("mailboxes: %w", err)
	}
	if len(out) == 0 {
		if _, err := s.Usage(ctx, acct); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, acct store.AccountRef, name string) (store.Mailbox, error) {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	m, err := scanMbox(s.rrow(ctx, `SELECT `+mboxCols+` FROM mailboxes WHERE domain = $1 AND account = $2 AND name = $3`,
		acct.Domain, acct.ID, n))
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
	_, err = s.c.do(ctx, func(w *wtx) error {
		if err := w.needAccount(acct); err != nil {
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
	}, nil)
	return out, err
}

func (w *wtx) needAccount(acct store.AccountRef) error {
	_, ok, err := w.usage(acct)
	if err == nil && !ok {
		err = fmt.Errorf("account %s/%d: %w", acct.Domain, acct.ID, store.ErrNotFound)
	}
	return err
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

// createMailbox inserts a mailbox with a fresh UIDVALIDITY.
func (w *wtx) createMailbox(acct store.AccountRef, name, specialUse string, subscribed bool) (*mboxRow, error) {
	v, err := w.nextUIDValidity()
	if err != nil {
		return nil, err
	}
	m, err := scanMbox(w.row(`INSERT INTO mailboxes (domain, account, name, special_use, subscribed, uidvalidity)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+mboxCols, acct.Domain, acct.ID, name, specialUse, subscribed, v))
	if err != nil {
		return nil, fmt.Errorf("create mailbox %q: %w", name, err)
	}
	w.emit(store.Change{Kind: store.MailboxCreated, Account: acct, Mailbox: store.MailboxID(m.id), Name: name})
	return m, nil
}

// nextUIDValidity takes the next value of the store-wide UIDVALIDITY counter, never less
// than the current Unix time, so values differ even across a restore of an old copy
// (RFC 9051 2.3.1.1: a re-created mailbox must not reuse one).
func (w *wtx) nextUIDValidity() (int64, error) {
	var last int64
	if err := w.row(`SELECT value FROM meta WHERE key = 'uidvalidity'`).Scan(&last); err != nil {
		return 0, fmt.Errorf("uidvalidity: %w", err)
	}
	v := max(last+1, time.Now().Unix())
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("uidvalidity counter exhausted: %w", store.ErrInvalid)
	}
	if _, err := w.exec(`UPDATE meta SET value = $1 WHERE key = 'uidvalidity'`, v); err != nil {
		return 0, fmt.Errorf("uidvalidity: %w", err)
	}
	return v, nil
}

// childRange is the half-open name range [name+"/", name+"0") of name's descendants
// ('0' is the byte after '/'), which SQLite serves from the (domain, account, name) index.
func childRange(name string) (lo, hi string) {
	return name + store.MailboxSeparator, name + "0"
}

// SetSubscribed implements store.Store.
func (s *Store) SetSubscribed(ctx context.Context, acct store.AccountRef, name string, on bool) error {
	n, err := store.NormalizeMailboxName(name)
	if err != nil {
		return err
	}
	_, err = s.c.do(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE mailboxes SET subscribed = $1 WHERE domain = $2 AND account = $3 AND name = $4`,
			on, acct.Domain, acct.ID, n)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		if err == nil && k == 0 {
			err = fmt.Errorf("mailbox %q: %w", n, store.ErrNotFound)
		}
		return err
	}, nil)
	return err
}
