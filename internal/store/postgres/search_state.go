package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

var _ store.TextIndexState = (*Store)(nil)

// The text index's watermark (search_clean, schema version 7). A check of a mailbox (a
// search's, the background indexer's last pass) reads the mark (textMark) before it
// looks for unindexed blobs, and afterwards records uidnext as read then: a message
// committed meanwhile got a UID at or above it, so the mark never covers a message the
// check did not see. An import (ImportMessages) may add UIDs below the mark: it lowers
// the mark and bumps epoch in its own transaction, and a check that began before records
// nothing (its epoch is stale). The row is per mailbox and goes with it (ON DELETE
// CASCADE); no row reads as "nothing known" (from 0).

// textMark is a mailbox's watermark as a check begins.
type textMark struct {
	from  int64 // every message with a lower UID has its blob indexed
	next  int64 // uidnext: the mark to record once every message from `from` on is indexed
	epoch int64
}

// clean reports whether the mark covers every UID the mailbox has handed out.
func (m textMark) clean() bool { return m.from >= m.next }

// readMark reads mbox's watermark; ErrNotFound when acct has no such mailbox (acct nil:
// not checked, for the background indexer).
func (s *Store) readMark(ctx context.Context, acct *store.AccountRef, mbox int64) (textMark, error) {
	if err := s.live(); err != nil {
		return textMark{}, err
	}
	q := `SELECT mb.uidnext, coalesce(c.uid, 0), coalesce(c.epoch, 0) FROM mailboxes mb
		LEFT JOIN search_clean c ON c.mailbox = mb.id WHERE mb.id = $1`
	args := []any{mbox}
	if acct != nil {
		q += ` AND mb.domain = $2 AND mb.account = $3`
		args = append(args, acct.Domain, acct.ID)
	}
	var m textMark
	err := s.pool.QueryRow(ctx, q, args...).Scan(&m.next, &m.from, &m.epoch)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return m, notFound("mailbox %d", mbox)
	case err != nil:
		return m, fmt.Errorf("search index: mark: %w", err)
	}
	return m, nil
}

// recordMark records m.next as mbox's mark, unless an import bumped the epoch since m was
// read or the mark is already as high.
func (s *Store) recordMark(ctx context.Context, mbox int64, m textMark) error {
	if m.clean() {
		return nil
	}
	if err := s.live(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO search_clean (mailbox, uid, epoch)
		SELECT id, $2, $3 FROM mailboxes WHERE id = $1
		ON CONFLICT (mailbox) DO UPDATE SET uid = excluded.uid
		WHERE search_clean.epoch = excluded.epoch AND search_clean.uid < excluded.uid`, mbox, m.next, m.epoch)
	if err != nil {
		return fmt.Errorf("search index: record mark: %w", err)
	}
	return nil
}

// queueLowerMark queues, in an import's batch, the lowering of mbox's mark to minUID and
// the bump of its epoch (see above).
func queueLowerMark(b *pgx.Batch, mbox, minUID int64) {
	b.Queue(`INSERT INTO search_clean (mailbox, uid, epoch) VALUES ($1, 0, 1)
		ON CONFLICT (mailbox) DO UPDATE SET uid = least(search_clean.uid, $2), epoch = search_clean.epoch + 1`, mbox, minUID)
}

// TextUnindexed implements store.TextIndexState: 0 when the watermark covers every UID
// handed out (one row read), else the messages from the mark on whose blob has no
// search_text row, counted up to limit with the anti-join indexMailbox uses.
func (s *Store) TextUnindexed(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, limit int) (int, error) {
	m, err := s.readMark(ctx, &acct, int64(mbox))
	if err != nil || limit <= 0 || m.clean() {
		return 0, err
	}
	var n int
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.mailbox = $1 AND m.uid >= $2
		AND NOT EXISTS (SELECT 1 FROM search_text s WHERE s.blob = m.blob) LIMIT $3) AS u`, int64(mbox), m.from, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("text unindexed: %w", err)
	}
	return n, nil
}

// behindMailboxes is the background indexer's start-up scan (store.BehindFunc): the
// mailboxes holding messages whose mark is below uidnext (or that have none).
func (s *Store) behindMailboxes(ctx context.Context, after store.MailboxID, limit int) ([]store.MailboxID, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT mb.id FROM mailboxes mb LEFT JOIN search_clean c ON c.mailbox = mb.id
		WHERE mb.id > $1 AND mb.messages > 0 AND mb.uidnext > coalesce(c.uid, 0) ORDER BY mb.id LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("search index: scan: %w", err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.MailboxID, error) {
		var id int64
		err := r.Scan(&id)
		return store.MailboxID(id), err
	})
	if err != nil {
		return nil, fmt.Errorf("search index: scan: %w", err)
	}
	return ids, nil
}
