package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/filter"
	"mailgrid/internal/message/body"
	"mailgrid/internal/pgkit"
	"mailgrid/internal/sqlkit"
)

// Hold implements filter.QuarantineStore: the body is read once for its sha256, then one
// transaction locks (or creates) its held_bodies row, writes its chunks when it is new,
// and inserts one quarantine row per entry.
func (d *DB) Hold(ctx context.Context, held []filter.Held, b body.Body) ([]filter.Held, error) {
	if len(held) == 0 {
		return nil, fmt.Errorf("%w: nothing to hold", filter.ErrInvalid)
	}
	h := sha256.New()
	if _, err := io.Copy(h, body.Reader(b)); err != nil {
		return nil, fmt.Errorf("filter/postgres: hold: read body: %w", err)
	}
	blob, size := hex.EncodeToString(h.Sum(nil)), b.Size()
	now := d.now().UTC().Truncate(time.Second)
	out := make([]filter.Held, len(held))
	err := d.tx(ctx, func(tx pgx.Tx) error {
		// xmax is 0 on a row this statement inserted; a conflict updates (and so locks)
		// the existing row, which Delete and Expire lock before removing it.
		var inserted bool
		if err := tx.QueryRow(ctx, `INSERT INTO held_bodies (id, size) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET size = excluded.size RETURNING xmax = 0`, blob, size).Scan(&inserted); err != nil {
			return dbErr("hold", err)
		}
		if inserted {
			if err := heldChunks().Write(ctx, tx, blob, b, 0, nil); err != nil {
				return dbErr("hold", err)
			}
		}
		for i, e := range held {
			e.BlobID, e.Size, e.Created = blob, size, now
			if err := tx.QueryRow(ctx, `INSERT INTO quarantine (domain, account, rcpt, sender, reason, mailet, size, created, blob)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
				e.Domain, e.Account, e.Rcpt.String(), e.From.String(), e.Reason, e.Mailet, size, now.Unix(), blob).Scan(&e.ID); err != nil {
				return dbErr("hold", err)
			}
			out[i] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Open implements filter.QuarantineStore. The body's reads run with ctx, so ctx must
// outlive them. A body of one chunk, most mail, is fetched here.
func (d *DB) Open(ctx context.Context, domain string, id int64) (filter.HeldBody, error) {
	h, err := d.Get(ctx, domain, id)
	if err != nil {
		return nil, err
	}
	// A chunk gone while the body is open (every copy was deleted) is filter.ErrNotFound.
	hb := heldChunks().Reader(ctx, d.pool, h.BlobID, h.Size, "filter/postgres: held body "+h.BlobID, filter.ErrNotFound)
	if err := hb.Preload(); err != nil {
		return nil, err
	}
	return hb, nil
}

// heldChunks is the table of held bodies' chunks.
func heldChunks() pgkit.Chunks {
	return pgkit.Chunks{Table: "held_chunks", Key: "body", Size: ChunkSize}
}

// Delete implements filter.QuarantineStore: the row, and its body when no other copy
// holds it, in one transaction.
func (d *DB) Delete(ctx context.Context, domain string, id int64) error {
	return d.tx(ctx, func(tx pgx.Tx) error {
		var blob string
		err := tx.QueryRow(ctx, `DELETE FROM quarantine WHERE domain = $1 AND id = $2 RETURNING blob`, domain, id).Scan(&blob)
		if errors.Is(err, pgx.ErrNoRows) {
			return filter.ErrNotFound
		}
		if err != nil {
			return dbErr("quarantine delete", err)
		}
		return dropUnused(ctx, pgkit.TxConn(tx), []string{blob})
	})
}

// Expire implements filter.QuarantineStore: the old rows and the bodies no copy holds any
// more, in one transaction.
func (d *DB) Expire(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := d.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM quarantine WHERE created < $1 RETURNING blob`, before.Unix())
		if err != nil {
			return dbErr("quarantine expire", err)
		}
		blobs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbErr("quarantine expire", err)
		}
		n = len(blobs)
		return dropUnused(ctx, pgkit.TxConn(tx), blobs)
	})
	return n, err
}

// dropUnused removes the held bodies of blobs no quarantine row references. It first
// locks the bodies (in id order, so two removers cannot deadlock), waiting for a Hold
// that is adding a copy of one; the DELETE, a new statement, then sees that copy.
func dropUnused(ctx context.Context, tx sqlkit.Conn, blobs []string) error {
	if len(blobs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM held_bodies WHERE id = ANY($1) ORDER BY id FOR UPDATE`, blobs); err != nil {
		return dbErr("held body lock", err)
	}
	_, err := tx.Exec(ctx, `DELETE FROM held_bodies b WHERE b.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.blob = b.id)`, blobs)
	return dbErr("held body delete", err)
}
