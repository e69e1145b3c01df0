package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mailgrid/internal/store"
)

func validAccount(acct store.AccountRef) error {
	if acct.Domain == "" || acct.ID <= 0 {
		return fmt.Errorf("account %q/%d: %w", acct.Domain, acct.ID, store.ErrInvalid)
	}
	return nil
}

// EnsureAccount implements store.Store. A default mailbox is created when neither its
// name nor its special-use role exists, so a user who renamed "Junk" to "Spam" does not
// get a second \Junk mailbox (Dovecot's auto-create by special-use behaves the same).
// Defaults are created subscribed.
func (s *Store) EnsureAccount(ctx context.Context, acct store.AccountRef) error {
	if err := validAccount(acct); err != nil {
		return err
	}
	_, err := s.c.do(ctx, func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO accounts (domain, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			acct.Domain, acct.ID); err != nil {
			return fmt.Errorf("ensure account: %w", err)
		}
		for _, d := range store.DefaultMailboxes {
			var n int
			err := w.row(`SELECT count(*) FROM mailboxes WHERE domain = $1 AND account = $2
				AND (name = $3 OR ($4 != '' AND special_use = $4))`, acct.Domain, acct.ID, d.Name, d.SpecialUse).Scan(&n)
			if err != nil {
				return fmt.Errorf("ensure account: %w", err)
			}
			if n > 0 {
				continue
			}
			if _, err := w.createMailbox(acct, d.Name, d.SpecialUse, true); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	return err
}

// DeleteAccount implements store.Store. An account the store does not know is already
// deleted: nil.
func (s *Store) DeleteAccount(ctx context.Context, acct store.AccountRef) error {
	_, err := s.c.do(ctx, func(w *wtx) error {
		rows, err := w.query(`SELECT `+mboxCols+` FROM mailboxes
			WHERE domain = $1 AND account = $2 ORDER BY name DESC`, acct.Domain, acct.ID)
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		var boxes []*mboxRow
		for rows.Next() {
			m, err := scanMbox(rows)
			if err != nil {
				return errors.Join(err, rows.Close())
			}
			boxes = append(boxes, m)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		for _, m := range boxes {
			if err := w.purgeMailbox(acct, m); err != nil {
				return err
			}
		}
		_, err = w.exec(`DELETE FROM accounts WHERE domain = $1 AND id = $2`, acct.Domain, acct.ID)
		return err
	}, nil)
	return err
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, acct store.AccountRef) (store.Usage, error) {
	var u store.Usage
	err := s.rrow(ctx, `SELECT bytes, messages FROM accounts WHERE domain = $1 AND id = $2`,
		acct.Domain, acct.ID).Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("account %s/%d: %w", acct.Domain, acct.ID, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	return u, nil
}
