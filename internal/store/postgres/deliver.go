package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// target is a DeliveryTarget with its flags normalised.
type target struct {
	store.DeliveryTarget
	flags []string
}

// body is what Deliver stores once for all targets.
type body struct {
	store.Body
	sum  [sha256.Size]byte
	meta []byte
	date time.Time
	// keys are the sort keys and header search text (store.KeysOf meta), written with
	// the message so no sorted page or header search has to fill them (schema 6, 8).
	keys store.MessageKeys
}

// Deliver implements store.Store. Hashing and parsing happen before the transaction; the
// transaction stores the body if the shard does not hold it yet, then locks the target
// accounts and mailboxes (lock order in rows.go) and adds every copy in one batch.
// Concurrent deliveries run in parallel transactions: PostgreSQL's WAL group commit lets
// them share fsyncs.
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
	if err := s.live(); err != nil {
		return nil, err
	}
	b := body{Body: d.Body, date: d.InternalDate}
	if b.date.IsZero() {
		b.date = time.Now()
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(d.Body, 0, d.Body.Size()), hashBuffer(d.Body.Size())); err != nil {
		return nil, fmt.Errorf("deliver: read body: %w", err)
	}
	h.Sum(b.sum[:0])
	var err error
	if b.meta, err = parseMeta(d.Body); err != nil {
		return nil, fmt.Errorf("deliver: parse: %w", err)
	}
	b.keys = store.KeysOf(b.meta)
	results := make([]store.DeliveryResult, len(targets))
	err = s.write(ctx, func(w *wtx) error {
		clear(results)
		return w.deliver(&b, targets, results)
	})
	if err != nil {
		return nil, fmt.Errorf("deliver: %w", err)
	}
	s.idx.MarkDelivered(results)
	return results, nil
}

// copyPlan is one copy of a delivery about to be inserted.
type copyPlan struct {
	result int // index in results
	box    *mboxRow
	uid    int64
	modseq int64
	flags  []string
}

func (w *wtx) deliver(b *body, targets []target, results []store.DeliveryResult) error {
	want := targetNames(targets)
	lk, err := w.lockForDelivery(b, targets, want)
	if err != nil {
		return err
	}
	usage, blob, fresh := lk.usage, lk.blob, lk.fresh
	boxes := make([]*mboxRow, len(targets))
	for i, t := range targets {
		if m := lk.boxes[t.Account][want[i]]; m != nil {
			boxes[i] = m
		} else {
			boxes[i] = lk.boxes[t.Account][store.Inbox] // the named mailbox does not exist
		}
	}
	size := b.Size()
	var plans []copyPlan
	for i, t := range targets {
		u, known := usage[t.Account]
		m := boxes[i]
		switch {
		case !known:
			results[i].Err = notFound("account %s/%d", t.Account.Domain, t.Account.ID)
			continue
		case m == nil:
			results[i].Err = notFound("INBOX of %s/%d", t.Account.Domain, t.Account.ID)
			continue
		case overQuota(*u, t.Quota, size, 1):
			results[i].Err = store.ErrOverQuota
			continue
		}
		uid, err := m.nextUID()
		if err != nil {
			return err
		}
		p := copyPlan{result: i, box: m, uid: uid, modseq: m.nextModSeq(), flags: t.flags}
		m.count(1, size, store.HasSeen(t.flags))
		u.Bytes += size
		u.Messages++
		plans = append(plans, p)
		results[i] = store.DeliveryResult{Mailbox: store.MailboxID(m.id), UID: store.UID(uid)}
		w.emit(store.Change{Kind: store.MessageAdded, Account: t.Account, Mailbox: store.MailboxID(m.id),
			UID: store.UID(uid), ModSeq: uint64(p.modseq), Flags: t.flags})
	}
	return w.storeCopies(b, blob, fresh, targets, plans, results)
}

// storeCopies inserts the planned copies and saves counters, usage and the blob's
// references in one batch, then fills in the message IDs.
func (w *wtx) storeCopies(b *body, blob int64, fresh bool, targets []target, plans []copyPlan, results []store.DeliveryResult) error {
	batch := &pgx.Batch{}
	switch {
	case len(plans) > 0:
		queueRefs(batch, map[int64]int64{blob: int64(len(plans))})
	case fresh:
		batch.Queue(`DELETE FROM blobs WHERE id = $1`, blob) // stored for nobody
	}
	n := len(plans)
	mbox, uid, modseq, flags, seen := make([]int64, n), make([]int64, n), make([]int64, n), make([]string, n), make([]bool, n)
	changed := map[int64]*mboxRow{}
	usage := map[store.AccountRef]int64{}
	for i, p := range plans {
		mbox[i], uid[i], modseq[i], flags[i], seen[i] = p.box.id, p.uid, p.modseq, joinFlags(p.flags), store.HasSeen(p.flags)
		changed[p.box.id] = p.box
		usage[targets[p.result].Account]++
	}
	ids := make(map[msgKey]int64, n)
	if n > 0 {
		_, zone := b.date.Zone()
		// The sort_keys rows first: the insert trigger, run at the end of the next
		// statement, then keeps them (schema version 6). A row left by a message no longer
		// there is overwritten.
		h := b.keys.Header
		batch.Queue(`INSERT INTO sort_keys (mailbox, uid, sender, subject, h_from, h_to, h_cc, h_bcc, h_subject)
			SELECT c.mailbox, c.uid, $3, $4, $5, $6, $7, $8, $9 FROM unnest($1::bigint[], $2::bigint[]) AS c(mailbox, uid)
			ON CONFLICT (mailbox, uid) DO UPDATE SET sender = excluded.sender, subject = excluded.subject,
				h_from = excluded.h_from, h_to = excluded.h_to, h_cc = excluded.h_cc, h_bcc = excluded.h_bcc,
				h_subject = excluded.h_subject`,
			mbox, uid, b.keys.SortFrom, b.keys.SortSubject, h.From, h.To, h.Cc, h.Bcc, h.Subject)
		batch.Queue(`INSERT INTO messages (mailbox, uid, modseq, flags, seen, internal_date, size, blob, meta, date_zone)
			SELECT c.mailbox, c.uid, c.modseq, string_to_array(c.flags, ' '), c.seen, $6, $7, $8, $9, $10
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::boolean[])
				AS c(mailbox, uid, modseq, flags, seen)
			RETURNING mailbox, uid, id`, mbox, uid, modseq, flags, seen, b.date, b.Size(), blob, b.meta, zone).
			Query(func(rows pgx.Rows) error {
				var k msgKey
				var id int64
				_, err := pgx.ForEachRow(rows, []any{&k.mailbox, &k.uid, &id}, func() error {
					ids[k] = id
					return nil
				})
				return err
			})
		queueCounters(batch, slices.Collect(maps.Values(changed))...)
		for a, k := range usage {
			queueUsage(batch, a, k*b.Size(), k)
		}
	}
	if err := w.finish(batch); err != nil {
		return fmt.Errorf("store message: %w", err)
	}
	return fillIDs(plans, ids, results)
}

// msgKey names a message row by mailbox and UID.
type msgKey struct{ mailbox, uid int64 }

// fillIDs gives each result the ID of its inserted row.
func fillIDs(plans []copyPlan, ids map[msgKey]int64, results []store.DeliveryResult) error {
	for _, p := range plans {
		id, ok := ids[msgKey{p.box.id, p.uid}]
		if !ok {
			return fmt.Errorf("store message: no row returned for UID %d of mailbox %d", p.uid, p.box.id)
		}
		results[p.result].MessageID = id
	}
	return nil
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
