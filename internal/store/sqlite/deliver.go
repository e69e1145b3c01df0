package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// target is a DeliveryTarget with its flags normalised.
type target struct {
	store.DeliveryTarget
	flags []string
}

// Deliver implements store.Store. Hashing and parsing happen in the caller's goroutine;
// only the inserts run in the committer, grouped with other callers' deliveries.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) ([]store.DeliveryResult, error) {
	if d.Body == nil || len(d.Targets) == 0 {
		return nil, fmt.Errorf("deliver: no body or no targets: %w", store.ErrInvalid)
	}
	targets := make([]target, len(d.Targets))
	for i, t := range d.Targets {
		flags, err := store.NormalizeFlags(t.Flags)
		if err != nil {
			return nil, fmt.Errorf("deliver: %w", err)
		}
		targets[i] = target{DeliveryTarget: t, flags: flags}
	}
	req := &blobReq{body: d.Body}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(d.Body, 0, d.Body.Size()), hashBuffer(d.Body.Size())); err != nil {
		return nil, fmt.Errorf("deliver: read body: %w", err)
	}
	h.Sum(req.sum[:0])
	meta, err := parseMeta(d.Body)
	if err != nil {
		return nil, fmt.Errorf("deliver: parse: %w", err)
	}
	msg := newMessage{size: d.Body.Size(), date: d.InternalDate, meta: meta}
	msg.keys = store.KeysOf(meta) // once for all targets, outside the committer
	if msg.date.IsZero() {
		msg.date = time.Now()
	}
	results := make([]store.DeliveryResult, len(targets))
	_, err = s.c.do(ctx, func(w *wtx) error {
		msg.blob = req.id
		return w.deliver(msg, targets, results)
	}, req)
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	s.idx.MarkDelivered(results)
	return results, nil
}

// deliver stores msg for each target, filling results in order.
func (w *wtx) deliver(msg newMessage, targets []target, results []store.DeliveryResult) error {
	var refs int64
	for i, t := range targets {
		msg.flags = t.flags
		r, err := w.deliverOne(t.DeliveryTarget, msg)
		if err != nil {
			return err
		}
		results[i] = r
		if r.Err == nil {
			refs++
		}
	}
	return w.addRefs(msg.blob, refs)
}

// deliverOne stores one copy. Target-level outcomes (unknown account, over quota) are in
// the result; the error is for faults that must undo the whole delivery.
func (w *wtx) deliverOne(t store.DeliveryTarget, msg newMessage) (store.DeliveryResult, error) {
	u, ok, m, err := w.deliveryTarget(t.Account, t.Mailbox)
	if err != nil {
		return store.DeliveryResult{}, err
	}
	if !ok {
		return store.DeliveryResult{Err: fmt.Errorf("account %s/%d: %w", t.Account.Domain, t.Account.ID, store.ErrNotFound)}, nil
	}
	if overQuota(u, t.Quota, msg.size, 1) {
		return store.DeliveryResult{Err: store.ErrOverQuota}, nil
	}
	if m == nil {
		return store.DeliveryResult{Err: fmt.Errorf("INBOX of %s/%d: %w", t.Account.Domain, t.Account.ID, store.ErrNotFound)}, nil
	}
	added, err := w.insertMessage(m, msg)
	if err != nil {
		return store.DeliveryResult{}, err
	}
	if err := w.saveCounters(m); err != nil {
		return store.DeliveryResult{}, err
	}
	if err := w.addUsage(t.Account, msg.size, 1); err != nil {
		return store.DeliveryResult{}, err
	}
	w.emit(store.Change{Kind: store.MessageAdded, Account: t.Account, Mailbox: added.MailboxID,
		UID: added.UID, ModSeq: added.ModSeq, Flags: added.Flags})
	return store.DeliveryResult{Mailbox: added.MailboxID, UID: added.UID, MessageID: added.ID}, nil
}

// deliveryTarget reads, in one statement, the account's usage (false: the store does not
// know the account) and the mailbox a delivery goes to (nil: not even INBOX). A name that
// is empty, invalid or missing means INBOX, so a filing rule never loses mail.
func (w *wtx) deliveryTarget(acct store.AccountRef, name string) (store.Usage, bool, *mboxRow, error) {
	n := store.Inbox
	if name != "" {
		if v, err := store.NormalizeMailboxName(name); err == nil {
			n = v
		}
	}
	var (
		u  store.Usage
		id sql.NullInt64
		m  mboxRow
	)
	err := w.row(`SELECT a.bytes, a.messages, x.id, coalesce(x.name, ''), coalesce(x.special_use, ''),
		coalesce(x.subscribed, 0), coalesce(x.uidvalidity, 0), coalesce(x.uidnext, 0), coalesce(x.highestmodseq, 0),
		coalesce(x.messages, 0), coalesce(x.unseen, 0), coalesce(x.size, 0)
		FROM accounts a LEFT JOIN mailboxes x ON x.domain = a.domain AND x.account = a.id AND x.name = $3
		WHERE a.domain = $1 AND a.id = $2`, acct.Domain, acct.ID, n).
		Scan(&u.Bytes, &u.Messages, &id, &m.name, &m.specialUse, &m.subscribed, &m.uidValidity, &m.uidNext,
			&m.modSeq, &m.messages, &m.unseen, &m.size)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return u, false, nil, nil
	case err != nil:
		return u, false, nil, err
	case id.Valid:
		m.id = id.Int64
		return u, true, &m, nil
	case n == store.Inbox:
		return u, true, nil, nil
	}
	inbox, err := w.mailboxByName(acct, store.Inbox)
	if errors.Is(err, store.ErrNotFound) {
		return u, true, nil, nil
	}
	return u, true, inbox, err
}

// parseMeta parses the message once, at delivery, and returns the JSON of its
// message.Info for store.Message.Meta (envelope, body structure with part offsets), so
// FETCH is served later without parsing again. message.Parse never fails on malformed
// MIME, only when the body cannot be read.
func parseMeta(body store.Body) ([]byte, error) {
	info, err := message.Parse(body, body.Size())
	if err != nil {
		return nil, err
	}
	return json.Marshal(info)
}

// hashBuffer is the copy buffer for hashing a body of size bytes: io.Copy would take 32
// KiB for every message, most of which are a few KiB.
func hashBuffer(size int64) []byte {
	return make([]byte, max(min(size, 32<<10), 512))
}
