package postgres

// Seals (store.Fence.Seal). A move seals its source just before switching placement: a
// row of the meta table, key "sealed <domain> <id>", committed on its own while the
// fence holds. Every write transaction reads it right after taking its first lock on the
// account (lockAccount, lockMailboxes, a delivery's account locks), in a statement of its
// own: under READ COMMITTED each statement sees what committed before it began, so a
// writer that waited on the fence sees a seal committed meanwhile, whatever ended the
// fence. A sealed account looks gone (no usage, no mailboxes): the writer answers as after
// a Drop (the delivery pipeline re-resolves placement: 451, and the retry reaches the new
// shard). The statement travels in the same batch as the lock, so it costs no round
// trip. Drop deletes the seal in its commit; Unseal when a move is abandoned before the
// switch.

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/store"
)

// sealKey is the meta key of acct's seal.
func sealKey(acct store.AccountRef) string {
	return "sealed " + acct.Domain + " " + strconv.FormatInt(acct.ID, 10)
}

// queueSealed queues the check of accts' seals; sealed gets the sealed ones when the
// batch runs.
func queueSealed(b *pgx.Batch, accts []store.AccountRef, sealed map[store.AccountRef]bool) {
	keys := make([]string, len(accts))
	byKey := make(map[string]store.AccountRef, len(accts))
	for i, a := range accts {
		keys[i] = sealKey(a)
		byKey[keys[i]] = a
	}
	b.Queue(`SELECT key FROM meta WHERE key = ANY($1)`, keys).Query(func(rows pgx.Rows) error {
		var k string
		_, err := pgx.ForEachRow(rows, []any{&k}, func() error {
			sealed[byKey[k]] = true
			return nil
		})
		return err
	})
}

// Seal implements store.Fence: the seal commits on a connection of its own (the fence's
// transaction stays open), synchronously, before the caller switches placement.
func (f *fence) Seal(ctx context.Context) error {
	if f.done {
		return fmt.Errorf("fence: already ended: %w", store.ErrInvalid)
	}
	if _, err := f.s.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO NOTHING`, sealKey(f.acct), time.Now().Unix()); err != nil {
		return fmt.Errorf("seal: %w", err)
	}
	return nil
}

// Unseal implements store.Fencer.
func (s *Store) Unseal(ctx context.Context, acct store.AccountRef) error {
	if err := s.live(); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM meta WHERE key = $1`, sealKey(acct)); err != nil {
		return fmt.Errorf("unseal: %w", err)
	}
	return nil
}
