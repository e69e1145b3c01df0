package postgres

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// deliveryLocks is what the first batch of a delivery learned.
type deliveryLocks struct {
	usage map[store.AccountRef]*store.Usage        // locked accounts the store knows
	boxes map[store.AccountRef]map[string]*mboxRow // locked mailboxes by name
	blob  int64
	fresh bool // the body was stored by this transaction
}

// targetNames gives each target's normalised mailbox name: INBOX when it names none or
// an invalid one, so a filing rule never loses mail.
func targetNames(targets []target) []string {
	want := make([]string, len(targets))
	for i, t := range targets {
		want[i] = store.Inbox
		if n, err := store.NormalizeMailboxName(t.Mailbox); t.Mailbox != "" && err == nil {
			want[i] = n
		}
	}
	return want
}

// lockForDelivery takes a delivery's locks in one round trip (a batch runs in order, so
// the lock order of rows.go holds): it stores a small body if the shard lacks it, locks
// the target accounts, and per account, in account order, the mailboxes the targets
// will use — each named mailbox that exists, and INBOX if a target falls back to it. A
// body larger than one part is stored before, in its own round trips, so no lock is held
// while it streams.
func (w *wtx) lockForDelivery(b *body, targets []target, want []string) (*deliveryLocks, error) {
	lk := &deliveryLocks{usage: map[store.AccountRef]*store.Usage{}, boxes: map[store.AccountRef]map[string]*mboxRow{}}
	small := b.Size() <= PartSize
	if !small {
		var err error
		if lk.blob, lk.fresh, err = w.blobFor(b); err != nil {
			return nil, err
		}
	}
	batch := &pgx.Batch{}
	if small {
		if err := queueSmallBlob(batch, b, lk); err != nil {
			return nil, err
		}
	}
	accts := queueLockAccounts(batch, targets, lk)
	sealed := map[store.AccountRef]bool{}
	queueSealed(batch, accts, sealed) // after the account locks (seal.go)
	for _, a := range accts {
		queueLockTargets(batch, a, targets, want, lk)
	}
	if err := w.send(batch); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for a := range sealed { // a sealed account is unknown here
		delete(lk.usage, a)
		delete(lk.boxes, a)
	}
	if small && !lk.fresh {
		err := w.row(`SELECT id FROM blobs WHERE sha256 = $1 FOR KEY SHARE`, b.sum[:]).Scan(&lk.blob)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errRetry // collected between our insert attempt and now
		}
		if err != nil {
			return nil, fmt.Errorf("blob lookup: %w", err)
		}
	}
	return lk, nil
}

// queueSmallBlob queues the insert of a body that fits in one part; lk.fresh tells
// whether it was new. An insert that meets the same content being inserted by another
// transaction waits for it, before this transaction holds any lock.
func queueSmallBlob(batch *pgx.Batch, b *body, lk *deliveryLocks) error {
	data := make([]byte, b.Size())
	if _, err := b.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read body: %w", err)
	}
	batch.Queue(insertBlobSQL, b.sum[:], b.Size(), data).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&lk.blob)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the shard holds it already
		}
		lk.fresh = err == nil
		return err
	})
	return nil
}

// queueLockAccounts queues the lock of the targets' accounts in (domain, id) order and
// returns the distinct accounts in that order.
func queueLockAccounts(batch *pgx.Batch, targets []target, lk *deliveryLocks) []store.AccountRef {
	set := map[store.AccountRef]bool{}
	for _, t := range targets {
		set[t.Account] = true
	}
	accts := slices.SortedFunc(maps.Keys(set), compareAccounts)
	domains, ids := make([]string, len(accts)), make([]int64, len(accts))
	for i, a := range accts {
		domains[i], ids[i] = a.Domain, a.ID
	}
	batch.Queue(`SELECT domain, id, bytes, messages FROM accounts
		WHERE (domain, id) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))
		ORDER BY domain, id FOR NO KEY UPDATE`, domains, ids).Query(func(rows pgx.Rows) error {
		var a store.AccountRef
		var u store.Usage
		_, err := pgx.ForEachRow(rows, []any{&a.Domain, &a.ID, &u.Bytes, &u.Messages}, func() error {
			lk.usage[a] = &store.Usage{Bytes: u.Bytes, Messages: u.Messages}
			return nil
		})
		return err
	})
	return accts
}

// queueLockTargets queues the lock, in ID order, of acct's mailboxes the targets name
// and of INBOX if a target wants it or names a mailbox that does not exist. (An unknown
// account has no mailboxes: nothing is locked.)
func queueLockTargets(batch *pgx.Batch, acct store.AccountRef, targets []target, want []string, lk *deliveryLocks) {
	named := map[string]bool{}
	inbox := false
	for i, t := range targets {
		if t.Account != acct {
			continue
		}
		if want[i] == store.Inbox {
			inbox = true
		} else {
			named[want[i]] = true
		}
	}
	names := slices.Collect(maps.Keys(named))
	batch.Queue(`SELECT `+mboxCols+` FROM mailboxes WHERE domain = $1 AND account = $2 AND (name = ANY($3)
			OR (name = 'INBOX' AND ($4 OR (SELECT count(*) FROM mailboxes
				WHERE domain = $1 AND account = $2 AND name = ANY($3)) < cardinality($3::text[]))))
		ORDER BY id FOR NO KEY UPDATE`, acct.Domain, acct.ID, names, inbox).Query(func(rows pgx.Rows) error {
		boxes, err := collectMboxes(rows, nil)
		if err != nil {
			return err
		}
		m := map[string]*mboxRow{}
		for _, b := range boxes {
			m[b.name] = b
		}
		lk.boxes[acct] = m
		return nil
	})
}
