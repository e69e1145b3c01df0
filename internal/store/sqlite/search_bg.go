package sqlite

import (
	"context"
	"errors"
	"fmt"

	"mailgrid/internal/store"
)

// indexSome is the background indexer's pass over one mailbox (store.IndexQueue): it
// indexes at most limit of the mailbox's unindexed blobs and reports whether more remain.
// Its last pass marks the mailbox clean in search_state, as a search does, so searches
// and TextUnindexed skip the check for unindexed blobs.
func (s *Store) indexSome(ctx context.Context, mbox store.MailboxID, limit int) (bool, error) {
	st, err := s.searchState(ctx, int64(mbox))
	if err != nil || st.clean() {
		return false, err
	}
	todo, err := s.unindexedBlobs(ctx, int64(mbox), st.mark, limit+1)
	if err != nil {
		return false, err
	}
	more := len(todo) > limit
	if more {
		todo = todo[:limit]
	}
	clean := &st // the last pass marks the mailbox clean in its last job
	if more {
		clean = nil
	}
	return more, s.indexAll(ctx, todo, true, int64(mbox), clean)
}

// behindMailboxes is the background indexer's start-up scan (store.BehindFunc): the
// mailboxes holding messages whose search_state is missing (never searched nor indexed)
// or not clean (messages came in since the last full check).
func (s *Store) behindMailboxes(ctx context.Context, after store.MailboxID, limit int) ([]store.MailboxID, error) {
	rows, err := s.rquery(ctx, `SELECT mb.id FROM mailboxes mb LEFT JOIN search_state st ON st.mailbox = mb.id
		WHERE mb.id > $1 AND mb.messages > 0 AND (st.mailbox IS NULL OR st.gen <> st.clean)
		ORDER BY mb.id LIMIT $2`, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("search index: scan: %w", err)
	}
	var out []store.MailboxID
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, errors.Join(fmt.Errorf("search index: scan: %w", err), rows.Close())
		}
		out = append(out, store.MailboxID(id))
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("search index: scan: %w", err)
	}
	return out, nil
}
