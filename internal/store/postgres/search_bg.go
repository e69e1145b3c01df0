package postgres

import (
	"context"
	"errors"

	"mailgrid/internal/store"
)

// backgroundIndexer returns the background indexer's pass over one mailbox
// (store.IndexQueue): it indexes at most limit of the unindexed blobs of the mailbox's
// messages its watermark does not cover and reports whether more remain; the last pass
// records the mark (search_state.go), so searches and TextUnindexed find the mailbox
// clean. Its passes count the rows they add and refresh search_text's statistics every
// analyzeAfter of them, as a search that indexes as many does (analyzeSearchText). The
// count is the queue goroutine's own.
func (s *Store) backgroundIndexer() store.IndexFunc {
	added := 0
	return func(ctx context.Context, mbox store.MailboxID, limit int) (bool, error) {
		m, err := s.readMark(ctx, nil, int64(mbox))
		if err != nil || m.clean() {
			if errors.Is(err, store.ErrNotFound) {
				err = nil // deleted meanwhile
			}
			return false, err
		}
		todo, err := s.unindexedBlobs(ctx, int64(mbox), m.from, limit+1)
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
		if more {
			return true, nil
		}
		return false, s.recordMark(ctx, int64(mbox), m)
	}
}
