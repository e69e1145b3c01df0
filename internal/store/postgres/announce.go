package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// Announce implements store.Announcer: a transaction that only notifies (pgnotify
// Payloads, the same channel and origin as every write), so every node listening on
// the shard hears the changes, and the Publisher, if any, gets them after the commit
// like any write's.
func (s *Store) Announce(ctx context.Context, changes ...store.Change) error {
	if len(changes) == 0 {
		return nil
	}
	err := s.write(ctx, func(w *wtx) error {
		w.changes = w.changes[:0]
		for _, c := range changes {
			w.emit(c)
		}
		return w.finish(&pgx.Batch{})
	})
	if err != nil {
		return fmt.Errorf("postgres store: announce: %w", err)
	}
	return nil
}

var _ store.Announcer = (*Store)(nil)
