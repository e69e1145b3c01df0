package sqlite

import (
	"context"

	"mailgrid/internal/store"
)

// Announce implements store.Announcer: the changes go to the Publisher (this process's
// bus) at once. Nothing is written: another process that opened the same shard (a
// `mailgrid serve` beside the CLI that announces) does not hear it this way.
func (s *Store) Announce(ctx context.Context, changes ...store.Change) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.publish(changes)
	return nil
}

var _ store.Announcer = (*Store)(nil)
