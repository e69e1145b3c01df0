package sqlite

import (
	"context"

	"mailgrid/internal/store"
)

// indexSome is the background indexer's pass over one mailbox (store.IndexQueue): it
// indexes at most limit of the mailbox's unindexed blobs and reports whether more remain.
// It leaves search_state alone: the next search finds nothing left to index and marks the
// mailbox clean itself.
func (s *Store) indexSome(ctx context.Context, mbox store.MailboxID, limit int) (bool, error) {
	todo, err := s.unindexedBlobs(ctx, int64(mbox), limit+1)
	if err != nil {
		return false, err
	}
	more := len(todo) > limit
	if more {
		todo = todo[:limit]
	}
	return more, s.indexAll(ctx, todo)
}
