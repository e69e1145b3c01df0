package postgres

// store.Importer and store.Fencer: the PostgreSQL shard as the target and the source of
// a user migration (package cluster). Imports keep the source's UIDVALIDITY, UIDs,
// MODSEQs and flags; they publish nothing (nobody is served from the target until
// placement switches) and check no quota (the account already holds what it holds).
// Counters and usage are recounted from the rows each import touched, so a re-run of an
// interrupted import converges whatever it finds.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/store"
)

var (
	_ store.Importer   = (*Store)(nil)
	_ store.Fencer     = (*Store)(nil)
	_ store.BodyReader = (*Store)(nil)
)

// Fence bounds: how long a fence waits for the account's writes in progress, and how
// long the database keeps a fence whose process went silent (it then ends the session,
// which releases the fence: a stuck migration can never block an account for long).
const (
	fenceLockTimeout = "30s"
	fenceIdleTimeout = "60s"
)

// ImportAccount implements store.Importer.
func (s *Store) ImportAccount(ctx context.Context, acct store.AccountRef) error {
	if err := validAccount(acct); err != nil {
		return err
	}
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO accounts (domain, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			acct.Domain, acct.ID); err != nil {
			return fmt.Errorf("import account: %w", err)
		}
		return nil
	})
}

// ImportMailbox implements store.Importer. The shard's UIDVALIDITY counter is raised to
// the imported value, so a mailbox created here later never takes a value the account
// used (RFC 9051 2.3.1.1).
func (s *Store) ImportMailbox(ctx context.Context, acct store.AccountRef, m store.ImportMailbox) (store.MailboxID, error) {
	if err := store.ValidMailboxName(m.Name); err != nil && m.Name != store.Inbox {
		return 0, fmt.Errorf("import mailbox %q: %w", m.Name, err)
	}
	if m.UIDValidity == 0 {
		return 0, fmt.Errorf("import mailbox %q: UIDVALIDITY 0: %w", m.Name, store.ErrInvalid)
	}
	var id int64
	err := s.write(ctx, func(w *wtx) error {
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
		err := w.row(`SELECT id FROM mailboxes WHERE domain = $1 AND account = $2 AND uidvalidity = $3`,
			acct.Domain, acct.ID, int64(m.UIDValidity)).Scan(&id)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = w.row(`INSERT INTO mailboxes (domain, account, name, special_use, subscribed, uidvalidity)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, acct.Domain, acct.ID, m.Name, m.SpecialUse,
				m.Subscribed, int64(m.UIDValidity)).Scan(&id)
		case err == nil:
			_, err = w.exec(`UPDATE mailboxes SET name = $2, special_use = $3, subscribed = $4 WHERE id = $1`,
				id, m.Name, m.SpecialUse, m.Subscribed)
		}
		if isUniqueViolation(err) {
			return fmt.Errorf("import mailbox %q: %w", m.Name, store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("import mailbox %q: %w", m.Name, err)
		}
		if _, err := w.exec(`UPDATE meta SET value = greatest(value, $1) WHERE key = 'uidvalidity'`,
			int64(m.UIDValidity)); err != nil {
			return fmt.Errorf("import mailbox %q: uidvalidity: %w", m.Name, err)
		}
		return nil
	})
	return store.MailboxID(id), err
}

// DropMailbox implements store.Importer.
func (s *Store) DropMailbox(ctx context.Context, acct store.AccountRef, mbox store.MailboxID) error {
	return s.write(ctx, func(w *wtx) error {
		if _, ok, err := w.lockAccount(acct); err != nil || !ok {
			return err
		}
		boxes, err := w.lockMailboxes(acct, int64(mbox))
		if err != nil || len(boxes) == 0 {
			return err
		}
		m := boxes[int64(mbox)]
		b := &pgx.Batch{}
		if err := w.queueRelease(b, []int64{m.id}); err != nil {
			return err
		}
		b.Queue(`DELETE FROM mailboxes WHERE id = $1`, m.id)
		queueUsage(b, acct, -m.size, -m.messages)
		return w.finish(b)
	})
}

// importBody is an ImportMessage's body with its hash.
type importBody struct {
	body
	idx  int    // in the call's msgs
	data []byte // the whole body when it fits one part (read once, hashed and stored)
}

// ImportMessages implements store.Importer. Bodies are read and hashed before the
// transaction (a body of one part is read once: its bytes are hashed, then stored);
// inside it, the bodies the shard lacks are stored (single-part ones in one statement,
// with the reference count the call's messages will give them), then the account and the
// mailbox are locked (rows.go's order) and the messages upserted in one batch.
func (s *Store) ImportMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, msgs []store.ImportMessage) error {
	if err := s.importMessages(ctx, acct, mbox, msgs); err != nil {
		return err
	}
	s.idx.MarkMailbox(mbox) // the imported bodies join the text index in the background
	return nil
}

func (s *Store) importMessages(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, msgs []store.ImportMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	var bodies []importBody
	var buf []byte // io.Copy would allocate 32 KiB per body
	flags := make([][]string, len(msgs))
	for i, m := range msgs {
		f, err := store.NormalizeFlags(m.Flags)
		if err != nil {
			return fmt.Errorf("import UID %d: %w", m.UID, err)
		}
		if m.UID == 0 {
			return fmt.Errorf("import: UID 0: %w", store.ErrInvalid)
		}
		flags[i] = f
		if m.Body == nil {
			continue
		}
		b := importBody{body: body{Body: m.Body, date: m.InternalDate}, idx: i}
		if err := b.hash(&buf); err != nil {
			return fmt.Errorf("import UID %d: read body: %w", m.UID, err)
		}
		bodies = append(bodies, b)
	}
	return s.write(ctx, func(w *wtx) error {
		blobs, preset, err := w.importBlobs(bodies)
		if err != nil {
			return err
		}
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
		m, err := w.lockMailbox(acct, mbox)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		refs, err := queueImport(b, m.id, msgs, flags, bodies, blobs)
		if err != nil {
			return err
		}
		queueLowerMark(b, m.id, minImportUID(msgs)) // its UIDs may lie below the text index's mark
		if err := w.send(b); err != nil {
			return fmt.Errorf("import messages: %w", err)
		}
		for id, n := range preset { // counted already, by importBlobs
			refs[id] -= n
		}
		b = &pgx.Batch{}
		queueRefs(b, refs)
		if err := w.recount(b, acct, m); err != nil {
			return err
		}
		return w.finish(b)
	})
}

// minImportUID is the lowest UID of msgs (not empty).
func minImportUID(msgs []store.ImportMessage) int64 {
	low := msgs[0].UID
	for _, m := range msgs[1:] {
		low = min(low, m.UID)
	}
	return int64(low)
}

// hash computes b.sum, keeping the bytes in b.data for a body of one part; buf is a
// reusable read buffer for larger ones.
func (b *importBody) hash(buf *[]byte) error {
	size := b.Size()
	if size <= PartSize {
		b.data = make([]byte, size)
		if _, err := b.ReadAt(b.data, 0); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		b.sum = sha256.Sum256(b.data)
		return nil
	}
	if *buf == nil {
		*buf = make([]byte, 64<<10)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(b.Body, 0, size), *buf); err != nil {
		return err
	}
	h.Sum(b.sum[:0])
	return nil
}

// importBlobs returns the blob row of every body, storing the ones the shard lacks;
// the rows are locked FOR KEY SHARE (lock order step 1). Single-part bodies are stored
// with the number of bodies of the call that carry them as their reference count (preset,
// by blob row): the messages' insert then usually leaves nothing to count, and the blob
// rows are written once.
func (w *wtx) importBlobs(bodies []importBody) (ids map[[sha256.Size]byte]int64, preset map[int64]int64, err error) {
	ids = make(map[[sha256.Size]byte]int64, len(bodies))
	preset = map[int64]int64{}
	if len(bodies) == 0 {
		return ids, preset, nil
	}
	sums := make([][]byte, 0, len(bodies))
	for i := range bodies {
		sums = append(sums, bodies[i].sum[:])
	}
	if err := w.scanBlobIDs(ids, `SELECT id, sha256 FROM blobs WHERE sha256 = ANY($1) ORDER BY id FOR KEY SHARE`, sums); err != nil {
		return nil, nil, err
	}
	var small []*importBody
	carriers := map[[sha256.Size]byte]int64{} // bodies per content
	for i := range bodies {
		b := &bodies[i]
		carriers[b.sum]++
		if _, ok := ids[b.sum]; ok || carriers[b.sum] > 1 {
			continue
		}
		if b.data == nil {
			id, ok, err := w.insertBlob(&b.body)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				return nil, nil, errRetry // stored by a concurrent transaction: run again
			}
			ids[b.sum] = id
			continue
		}
		small = append(small, b)
	}
	if len(small) == 0 {
		return ids, preset, nil
	}
	n := len(small)
	shas, sizes, data, refs := make([][]byte, n), make([]int64, n), make([][]byte, n), make([]int64, n)
	for i, b := range small {
		shas[i], sizes[i], data[i], refs[i] = b.sum[:], b.Size(), b.data, carriers[b.sum]
	}
	// The blob rows first (small), then their parts through COPY: the bodies travel once,
	// straight into blob_parts (an INSERT from unnest of a bytea array copied each body
	// through the array, the row set and a hash join before storing it).
	fresh := map[[sha256.Size]byte]int64{}
	if err := w.scanBlobIDs(fresh, `INSERT INTO blobs (sha256, size, refs, freed_at)
		SELECT sha, size, refs, NULL FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) AS d(sha, size, refs)
		ON CONFLICT (sha256) DO NOTHING RETURNING id, sha256`, shas, sizes, refs); err != nil {
		return nil, nil, err
	}
	if len(fresh) != n {
		return nil, nil, errRetry // some were stored by a concurrent transaction meanwhile
	}
	parts := make([][]any, n)
	for i, b := range small {
		parts[i] = []any{fresh[b.sum], int32(0), data[i]}
	}
	if _, err := w.copyFrom("blob_parts", []string{"blob", "part", "data"}, pgx.CopyFromRows(parts)); err != nil {
		return nil, nil, fmt.Errorf("import blob parts: %w", err)
	}
	for sum, id := range fresh {
		ids[sum], preset[id] = id, carriers[sum]
	}
	return ids, preset, nil
}

func (w *wtx) scanBlobIDs(ids map[[sha256.Size]byte]int64, q string, args ...any) error {
	rows, err := w.query(q, args...)
	if err != nil {
		return fmt.Errorf("import blobs: %w", err)
	}
	var id int64
	var sum []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &sum}, func() error {
		var k [sha256.Size]byte
		copy(k[:], sum)
		ids[k] = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("import blobs: %w", err)
	}
	return nil
}

// queueImport queues the flag updates of held UIDs and the upsert of the others, and the
// references of the rows actually inserted.
// The references map is filled when the batch runs.
func queueImport(b *pgx.Batch, mbox int64, msgs []store.ImportMessage, flags [][]string, bodies []importBody,
	blobs map[[sha256.Size]byte]int64) (refs map[int64]int64, err error) {
	var uUID, uMod []int64
	var uFlags []string
	var uSeen []bool
	for i, m := range msgs {
		if m.Body == nil {
			uUID, uMod = append(uUID, int64(m.UID)), append(uMod, int64(m.ModSeq))
			uFlags, uSeen = append(uFlags, joinFlags(flags[i])), append(uSeen, store.HasSeen(flags[i]))
		}
	}
	if len(uUID) > 0 {
		want := len(uUID)
		b.Queue(`UPDATE messages SET flags = string_to_array(c.flags, ' '), seen = c.seen, modseq = c.modseq
			FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::boolean[]) AS c(uid, modseq, flags, seen)
			WHERE messages.mailbox = $1 AND messages.uid = c.uid`, mbox, uUID, uMod, uFlags, uSeen).
			Exec(func(tag pgconn.CommandTag) error {
				if int(tag.RowsAffected()) != want {
					return fmt.Errorf("import flags: %d of %d UIDs held: %w", tag.RowsAffected(), want, store.ErrNotFound)
				}
				return nil
			})
	}
	refs = map[int64]int64{}
	n := len(bodies)
	if n == 0 {
		return refs, nil
	}
	uid, mod, blob, size, fl, seen, date, meta := make([]int64, n), make([]int64, n), make([]int64, n),
		make([]int64, n), make([]string, n), make([]bool, n), make([]time.Time, n), make([][]byte, n)
	zone := make([]int32, n) // the INTERNALDATE's zone offset (RFC 9051 2.3.3), kept as delivered
	keys := make([]store.MessageKeys, n)
	for i, bd := range bodies {
		m := msgs[bd.idx]
		id, ok := blobs[bd.sum]
		if !ok {
			return nil, fmt.Errorf("import UID %d: body not stored", m.UID)
		}
		uid[i], mod[i], blob[i], size[i] = int64(m.UID), int64(m.ModSeq), id, bd.Size()
		fl[i], seen[i], date[i], meta[i] = joinFlags(flags[bd.idx]), store.HasSeen(flags[bd.idx]), m.InternalDate, m.Meta
		_, off := m.InternalDate.Zone()
		zone[i] = int32(off)
		keys[i] = store.KeysOf(m.Meta)
	}
	from, subject, hf, ht, hc, hb, hs := keyColumns(keys)
	// The new messages' sort_keys rows first (schema version 6; the insert trigger keeps
	// them). A message already there keeps its row: its meta is not replaced either.
	b.Queue(`INSERT INTO sort_keys (mailbox, uid, sender, subject, h_from, h_to, h_cc, h_bcc, h_subject)
		SELECT $1, c.* FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
			AS c(uid, f, s, hf, ht, hc, hb, hs)
		ON CONFLICT (mailbox, uid) DO NOTHING`, mbox, uid, from, subject, hf, ht, hc, hb, hs)
	b.Queue(`INSERT INTO messages (mailbox, uid, modseq, flags, seen, internal_date, size, blob, meta, date_zone)
		SELECT $1, c.uid, c.modseq, string_to_array(c.flags, ' '), c.seen, c.date, c.size, c.blob, c.meta, c.zone
		FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::boolean[], $6::timestamptz[], $7::bigint[],
			$8::bigint[], $9::bytea[], $10::integer[]) AS c(uid, modseq, flags, seen, date, size, blob, meta, zone)
		ON CONFLICT (mailbox, uid) DO UPDATE SET flags = excluded.flags, seen = excluded.seen, modseq = excluded.modseq
		RETURNING blob, xmax = 0`, mbox, uid, mod, fl, seen, date, size, blob, meta, zone).
		Query(func(rows pgx.Rows) error {
			var id int64
			var inserted bool
			_, err := pgx.ForEachRow(rows, []any{&id, &inserted}, func() error {
				if inserted {
					refs[id]++
				}
				return nil
			})
			return err
		})
	return refs, nil
}

// recount reads m's counters and highest UID from its rows (m is locked) and queues
// their update, with the account's usage changed by the difference. UIDNEXT rises above
// every UID held; HIGHESTMODSEQ is left to SetMailboxSync.
func (w *wtx) recount(b *pgx.Batch, acct store.AccountRef, m *mboxRow) error {
	var msgs, unseen, size, maxUID int64
	err := w.row(`SELECT count(*), count(*) FILTER (WHERE NOT seen), coalesce(sum(size), 0)::bigint,
		coalesce(max(uid), 0) FROM messages WHERE mailbox = $1`, m.id).Scan(&msgs, &unseen, &size, &maxUID)
	if err != nil {
		return fmt.Errorf("import: recount: %w", err)
	}
	queueUsage(b, acct, size-m.size, msgs-m.messages)
	m.messages, m.unseen, m.size = msgs, unseen, size
	m.uidNext = max(m.uidNext, maxUID+1)
	queueCounters(b, m)
	return nil
}

// ImportExpunged implements store.Importer.
func (s *Store) ImportExpunged(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uids []store.UID, modseq uint64) error {
	ids := sortedUIDs(uids)
	if len(ids) == 0 {
		return nil
	}
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.needAccount(acct); err != nil {
			return err
		}
		m, err := w.lockMailbox(acct, mbox)
		if err != nil {
			return err
		}
		rows, err := w.query(`DELETE FROM messages WHERE mailbox = $1 AND uid = ANY($2) RETURNING blob`, m.id, ids)
		if err != nil {
			return fmt.Errorf("import expunged: %w", err)
		}
		refs := map[int64]int64{}
		var blob int64
		if _, err := pgx.ForEachRow(rows, []any{&blob}, func() error {
			refs[blob]--
			return nil
		}); err != nil {
			return fmt.Errorf("import expunged: %w", err)
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO expunged (mailbox, uid, modseq) SELECT $1, u, $3 FROM unnest($2::bigint[]) AS u
			ON CONFLICT (mailbox, uid) DO NOTHING`, m.id, ids, int64(modseq))
		queueRefs(b, refs)
		if err := w.recount(b, acct, m); err != nil {
			return err
		}
		return w.finish(b)
	})
}

// SetMailboxSync implements store.Importer.
func (s *Store) SetMailboxSync(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uidNext store.UID, modseq uint64) error {
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.exec(`UPDATE mailboxes SET highestmodseq = $4, uidnext = greatest(uidnext, $5)
			WHERE id = $1 AND domain = $2 AND account = $3`, int64(mbox), acct.Domain, acct.ID, int64(modseq), int64(uidNext))
		if err != nil {
			return fmt.Errorf("mailbox sync: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("mailbox %d", mbox)
		}
		return nil
	})
}

// fence is a held store.Fence: an open transaction on its own connection holding the
// account's row and every mailbox row of it FOR UPDATE. Every write transaction locks
// the account or the mailbox row first (rows.go), so they wait; reads do not.
type fence struct {
	s    *Store
	w    *wtx
	acct store.AccountRef
	done bool
}

// Fence implements store.Fencer. The account row is created if missing, so that a
// first delivery racing with the move (EnsureAccount) waits too. lock_timeout bounds the
// wait for writes in progress; idle_in_transaction_session_timeout ends a fence whose
// process stopped talking (the database then drops the session and its locks).
func (s *Store) Fence(ctx context.Context, acct store.AccountRef) (store.Fence, error) {
	if err := validAccount(acct); err != nil {
		return nil, err
	}
	if err := s.live(); err != nil {
		return nil, err
	}
	if err := s.DeleteAccount(ctx, tombstone(acct)); err != nil { // left by an earlier Drop
		return nil, fmt.Errorf("fence: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("fence: %w", err)
	}
	f := &fence{s: s, acct: acct, w: &wtx{ctx: ctx, conn: conn, origin: s.origin, seq: s.seq}}
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL lock_timeout = '` + fenceLockTimeout + `'`)
	b.Queue(`SET LOCAL idle_in_transaction_session_timeout = '` + fenceIdleTimeout + `'`)
	b.Queue(`INSERT INTO accounts (domain, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, acct.Domain, acct.ID)
	b.Queue(`SELECT 1 FROM accounts WHERE domain = $1 AND id = $2 FOR UPDATE`, acct.Domain, acct.ID)
	b.Queue(`SELECT id FROM mailboxes WHERE domain = $1 AND account = $2 ORDER BY id FOR UPDATE`, acct.Domain, acct.ID)
	if err := f.w.send(b); err != nil {
		f.end(conn)
		return nil, fmt.Errorf("fence: %w", err)
	}
	return f, nil
}

// end rolls back whatever is open and returns the connection.
func (f *fence) end(conn *pgxpool.Conn) {
	f.done = true
	if f.w.begun && !f.w.committed {
		if _, err := conn.Exec(context.Background(), `ROLLBACK`); err != nil {
			f.s.log.Warn("postgres store: fence rollback", "err", err)
		}
	}
	conn.Release()
}

// Release implements store.Fence.
func (f *fence) Release() error {
	if f.done {
		return nil
	}
	f.end(f.w.conn)
	return nil
}

// Drop implements store.Fence. Inside the fence the account's mailboxes only change
// owner, to a tombstone account with the negated ID (store account IDs are directory IDs,
// always positive), and the account row goes: a few rows, whatever the mailbox sizes, so
// the fence ends quickly. Writers that waited find no account and no mailbox of it. Purge
// deletes the tombstone's mail after the commit (the next Fence of the account does too,
// if Purge never ran). The AccountMoved change tells every node's
// sessions, then a MailboxDeleted per mailbox.
func (f *fence) Drop(ctx context.Context) error {
	if f.done {
		return fmt.Errorf("fence: already ended: %w", store.ErrInvalid)
	}
	w := f.w
	w.ctx = ctx
	boxes, err := collectMboxes(w.query(`SELECT `+mboxCols+` FROM mailboxes
		WHERE domain = $1 AND account = $2 ORDER BY name DESC`, f.acct.Domain, f.acct.ID))
	if err != nil {
		f.end(w.conn)
		return fmt.Errorf("fence drop: %w", err)
	}
	tomb := tombstone(f.acct)
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO accounts (domain, id, bytes, messages)
		SELECT domain, $3, bytes, messages FROM accounts WHERE domain = $1 AND id = $2`, f.acct.Domain, f.acct.ID, tomb.ID)
	b.Queue(`UPDATE mailboxes SET account = $3 WHERE domain = $1 AND account = $2`, f.acct.Domain, f.acct.ID, tomb.ID)
	b.Queue(`DELETE FROM accounts WHERE domain = $1 AND id = $2`, f.acct.Domain, f.acct.ID)
	b.Queue(`DELETE FROM meta WHERE key = $1`, sealKey(f.acct))     // seal.go
	w.emit(store.Change{Kind: store.AccountMoved, Account: f.acct}) // first: sessions say why they end
	for _, m := range boxes {
		w.emit(store.Change{Kind: store.MailboxDeleted, Account: f.acct, Mailbox: store.MailboxID(m.id), Name: m.name})
	}
	err = w.finish(b)
	f.end(w.conn)
	if w.finished && len(w.changes) > 0 {
		if w.committed {
			f.s.seq.done(w.ticket, slices.Clone(w.changes))
		} else {
			f.s.seq.done(w.ticket, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("fence drop: %w", err)
	}
	return nil
}

// Purge implements store.Fence: the tombstone's mail goes.
func (f *fence) Purge(ctx context.Context) error {
	if err := f.s.DeleteAccount(ctx, tombstone(f.acct)); err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	return nil
}

// tombstone is the account a dropped account's mailboxes wait in until deleted.
func tombstone(acct store.AccountRef) store.AccountRef {
	return store.AccountRef{Domain: acct.Domain, ID: -acct.ID}
}

// ReadBodies implements store.BodyReader: one query for all ids, parts in order.
func (s *Store) ReadBodies(ctx context.Context, acct store.AccountRef, ids []int64, fn func(id int64, body []byte) error) error {
	if err := s.live(); err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, `SELECT m.id, b.size, p.part, p.data FROM messages m
		JOIN mailboxes x ON x.id = m.mailbox JOIN blobs b ON b.id = m.blob JOIN blob_parts p ON p.blob = b.id
		WHERE m.id = ANY($1) AND x.domain = $2 AND x.account = $3 ORDER BY m.id, p.part`, ids, acct.Domain, acct.ID)
	if err != nil {
		return fmt.Errorf("read bodies: %w", err)
	}
	var (
		cur, curSize int64 = -1, 0
		id, size     int64
		part         int32
		data, buf    []byte
	)
	flush := func() error { // the message cur is complete
		if cur < 0 {
			return nil
		}
		if int64(len(buf)) != curSize {
			return fmt.Errorf("message %d: %d of %d bytes", cur, len(buf), curSize)
		}
		return fn(cur, buf)
	}
	_, err = pgx.ForEachRow(rows, []any{&id, &size, &part, &data}, func() error {
		if id != cur {
			if err := flush(); err != nil {
				return err
			}
			cur, curSize, buf = id, size, make([]byte, 0, size)
		}
		buf = append(buf, data...)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("read bodies: %w", err)
	}
	return nil
}
