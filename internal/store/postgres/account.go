package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// EnsureAccount implements store.Store. A default mailbox is created when neither its
// name nor its special-use role exists, so a user who renamed "Junk" to "Spam" does not
// get a second \Junk mailbox (Dovecot's auto-create by special-use behaves the same).
// Defaults are created subscribed. The common case, everything present, is one read.
func (s *Store) EnsureAccount(ctx context.Context, acct store.AccountRef) error {
	if err := validAccount(acct); err != nil {
		return err
	}
	if err := s.live(); err != nil {
		return err
	}
	if missing, err := s.missingDefaults(ctx, acct); err != nil || len(missing) == 0 {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO accounts (domain, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			acct.Domain, acct.ID); err != nil {
			return fmt.Errorf("ensure account: %w", err)
		}
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
		have, err := w.mailboxRoles(acct)
		if err != nil {
			return err
		}
		for _, d := range missingDefaults(have) {
			if _, err := w.createMailbox(acct, d.Name, d.SpecialUse, true); err != nil {
				return err
			}
		}
		return nil
	})
}

type nameRole struct{ name, specialUse string }

// defaultMailbox is an element of store.DefaultMailboxes.
type defaultMailbox = struct{ Name, SpecialUse string }

// missingDefaults returns the default mailboxes that have neither their name nor their
// role among have.
func missingDefaults(have []nameRole) []defaultMailbox {
	var out []defaultMailbox
	for _, d := range store.DefaultMailboxes {
		found := false
		for _, h := range have {
			if h.name == d.Name || (d.SpecialUse != "" && h.specialUse == d.SpecialUse) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, d)
		}
	}
	return out
}

// missingDefaults reads, without a transaction, what EnsureAccount would create; all of
// them when the account is unknown.
func (s *Store) missingDefaults(ctx context.Context, acct store.AccountRef) ([]defaultMailbox, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, special_use FROM mailboxes WHERE domain = $1 AND account = $2`,
		acct.Domain, acct.ID)
	have, err := collectRoles(rows, err)
	if err != nil {
		return nil, fmt.Errorf("ensure account: %w", err)
	}
	return missingDefaults(have), nil
}

func (w *wtx) mailboxRoles(acct store.AccountRef) ([]nameRole, error) {
	rows, err := w.query(`SELECT name, special_use FROM mailboxes WHERE domain = $1 AND account = $2`,
		acct.Domain, acct.ID)
	have, err := collectRoles(rows, err)
	if err != nil {
		return nil, fmt.Errorf("ensure account: %w", err)
	}
	return have, nil
}

func collectRoles(rows pgx.Rows, err error) ([]nameRole, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (nameRole, error) {
		var n nameRole
		err := r.Scan(&n.name, &n.specialUse)
		return n, err
	})
}

// DeleteAccount implements store.Store. An account the store does not know is already
// deleted: nil. Its mailboxes are reported deleted deepest first. A sealed account
// (seal.go) is deleted too, with its seal.
func (s *Store) DeleteAccount(ctx context.Context, acct store.AccountRef) error {
	return s.write(ctx, func(w *wtx) error {
		var one int
		err := w.row(`SELECT 1 FROM accounts WHERE domain = $1 AND id = $2 FOR NO KEY UPDATE`, acct.Domain, acct.ID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		boxes, err := collectMboxes(w.query(`SELECT `+mboxCols+` FROM mailboxes
			WHERE domain = $1 AND account = $2 ORDER BY name DESC`, acct.Domain, acct.ID))
		if err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		ids := make([]int64, len(boxes))
		for i, m := range boxes {
			ids[i] = m.id
		}
		b := &pgx.Batch{}
		if err := w.queueRelease(b, ids); err != nil {
			return err
		}
		// Mailboxes, messages and tombstones go with the account (ON DELETE CASCADE).
		b.Queue(`DELETE FROM accounts WHERE domain = $1 AND id = $2`, acct.Domain, acct.ID)
		b.Queue(`DELETE FROM meta WHERE key = $1`, sealKey(acct))
		for _, m := range boxes {
			w.emit(store.Change{Kind: store.MailboxDeleted, Account: acct, Mailbox: store.MailboxID(m.id), Name: m.name})
		}
		return w.finish(b)
	})
}

// queueRelease queues the release of the blob references held by the messages of the
// given mailboxes.
func (w *wtx) queueRelease(b *pgx.Batch, mailboxes []int64) error {
	rows, err := w.query(`SELECT blob, count(*) FROM messages WHERE mailbox = ANY($1) GROUP BY blob`, mailboxes)
	if err != nil {
		return fmt.Errorf("release blobs: %w", err)
	}
	refs := map[int64]int64{}
	var blob, n int64
	_, err = pgx.ForEachRow(rows, []any{&blob, &n}, func() error {
		refs[blob] = -n
		return nil
	})
	if err != nil {
		return fmt.Errorf("release blobs: %w", err)
	}
	queueRefs(b, refs)
	return nil
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, acct store.AccountRef) (store.Usage, error) {
	if err := s.live(); err != nil {
		return store.Usage{}, err
	}
	var u store.Usage
	err := s.pool.QueryRow(ctx, `SELECT bytes, messages FROM accounts WHERE domain = $1 AND id = $2`,
		acct.Domain, acct.ID).Scan(&u.Bytes, &u.Messages)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, notFound("account %s/%d", acct.Domain, acct.ID)
	}
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	return u, nil
}
