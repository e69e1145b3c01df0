package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// OpenBody opens an item's body. Its reads run with ctx, so ctx must outlive them (the
// scheduler opens, reads and closes under one delivery's context). A body of one chunk
// is fetched here, in the same statement that checks the item; a chunk gone while the
// body is open (the item was dropped or finished) reads as queue.ErrNotFound.
func (q *Queue) OpenBody(ctx context.Context, id string) (store.Blob, error) {
	var size int64
	var first []byte
	err := q.pool.QueryRow(ctx, `SELECT i.size,
		(SELECT c.data FROM body_chunks c WHERE c.item_id = i.id AND c.seq = 0 AND i.size <= $2)
		FROM items i WHERE i.id = $1`, id, ChunkSize).Scan(&size, &first)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, queue.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("queue: open body of %s: %w", id, err)
	}
	b := bodyChunks().Reader(ctx, q.pool, id, size, "queue: body of "+id, queue.ErrNotFound)
	if size > 0 && size <= ChunkSize {
		if err := b.SetFirst(first); err != nil {
			return nil, err
		}
	}
	return b, nil
}
