package sqlite

import (
	"context"

	"mailgrid/internal/store"
)

// indexSome is the background indexer's pass over one mailbox (store.IndexQueue): it
// indexes at most limit of the mailbox's unindexed blobs and reports whether more remain.
// Its last pass marks the mailbox clean in search_state, as a search does, so searches
// and TextUnindexed skip the check for unindexed blobs.
func (s *Store) indexSome(ctx context.Context, mbox store.MailboxID, limit int) (bool, error) {
	gen, clean, err := s.searchState(ctx, int64(mbox))
	if err != nil || gen == clean {
		return false, err
	}
	todo, err := s.unindexedBlobs(ctx, int64(mbox), limit+1)
	if err != nil {
		return false, err
	}
	more := len(todo) > limit
	if more {
		todo = todo[:limit]
	}
	if err := s.indexAll(ctx, todo); err != nil || more {
		return more, err
	}
	return false, s.markClean(ctx, int64(mbox), gen)
}
