package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mailgrid/internal/store"
)

var _ store.TextIndexState = (*Store)(nil)

// TextUnindexed implements store.TextIndexState: 0 when search_state says every message
// is indexed (one row read), else the mailbox's messages whose blob has no search_text
// row, counted up to limit with the same anti-join indexMailbox uses (messages by
// mailbox, search_text by rowid), so it stops after limit rows.
func (s *Store) TextUnindexed(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, limit int) (int, error) {
	if err := s.ownMailbox(ctx, acct, mbox); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, nil
	}
	var gen, clean, mark int64
	err := s.rrow(ctx, `SELECT gen, clean, mark FROM search_state WHERE mailbox = $1`, int64(mbox)).Scan(&gen, &clean, &mark)
	switch {
	case err == nil && gen == clean:
		return 0, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("text unindexed: %w", err)
	}
	var n int
	err = s.rrow(ctx, `SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.mailbox = $1 AND m.uid >= $3
		AND NOT EXISTS (SELECT 1 FROM sx.search_text s WHERE s.rowid = m.blob) LIMIT $2)`, int64(mbox), limit, mark).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("text unindexed: %w", err)
	}
	return n, nil
}
