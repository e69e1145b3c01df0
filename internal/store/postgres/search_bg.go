package postgres

import (
	"context"

	"mailgrid/internal/store"
)

// backgroundIndexer returns the background indexer's pass over one mailbox
// (store.IndexQueue): it indexes at most limit of the mailbox's unindexed blobs and
// reports whether more remain. Its passes count the rows they add and refresh
// search_text's statistics every analyzeAfter of them, as a search that indexes as many
// does (analyzeSearchText). The count is the queue goroutine's own.
func (s *Store) backgroundIndexer() store.IndexFunc {
	added := 0
	return func(ctx context.Context, mbox store.MailboxID, limit int) (bool, error) {
		todo, err := s.unindexedBlobs(ctx, int64(mbox), limit+1)
		if err != nil {
			return false, err
		}
		more := len(todo) > limit
		if more {
			todo = todo[:limit]
		}
		if err := s.indexAll(ctx, todo); err != nil {
			return false, err
		}
		if added += len(todo); added >= analyzeAfter {
			added = 0
			s.analyzeSearchText(ctx)
		}
		return more, nil
	}
}
