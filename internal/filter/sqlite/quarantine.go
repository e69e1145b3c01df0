package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/message/body"
)

// Hold implements filter.QuarantineStore: the body is streamed to held/<sha256>
// (written to a temporary file, fsynced, renamed, the directory fsynced), then one row
// per entry commits.
func (d *DB) Hold(ctx context.Context, held []filter.Held, b body.Body) ([]filter.Held, error) {
	if len(held) == 0 {
		return nil, fmt.Errorf("%w: nothing to hold", filter.ErrInvalid)
	}
	d.blobMu.Lock() // a body being held is not removed as unused meanwhile
	defer d.blobMu.Unlock()
	blob, err := d.writeBlob(b)
	if err != nil {
		return nil, err
	}
	now := d.now().UTC().Truncate(time.Second)
	out := make([]filter.Held, len(held))
	err = d.tx(ctx, func(tx *sql.Tx) error {
		for i, h := range held {
			h.BlobID, h.Size, h.Created = blob, b.Size(), now
			err := tx.QueryRowContext(ctx, `INSERT INTO quarantine (domain, account, rcpt, sender, reason, mailet, size, created, blob)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
				h.Domain, h.Account, h.Rcpt.String(), h.From.String(), h.Reason, h.Mailet, h.Size, now.Unix(), blob).Scan(&h.ID)
			if err != nil {
				return dbErr("hold", err)
			}
			out[i] = h
		}
		return nil
	})
	if err != nil {
		d.dropUnusedLocked(context.WithoutCancel(ctx), blob)
		return nil, err
	}
	return out, nil
}

// writeBlob stores b under its sha256 and returns the hex digest.
func (d *DB) writeBlob(b body.Body) (string, error) {
	tmp, err := os.CreateTemp(d.heldDir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("filter/sqlite: hold: %w", err)
	}
	defer func() {
		if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("filter/sqlite: remove temporary file", "err", err)
		}
	}()
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), body.Reader(b))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("filter/sqlite: hold: %w", err)
	}
	id := hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), d.blobPath(id)); err != nil {
		return "", fmt.Errorf("filter/sqlite: hold: %w", err)
	}
	return id, syncDir(d.heldDir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filter/sqlite: sync %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("filter/sqlite: sync %s: %w", dir, err)
	}
	return nil
}

func (d *DB) blobPath(id string) string { return filepath.Join(d.heldDir, id) }

// Open implements filter.QuarantineStore.
func (d *DB) Open(ctx context.Context, domain string, id int64) (filter.HeldBody, error) {
	h, err := d.Get(ctx, domain, id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(d.blobPath(h.BlobID))
	if err != nil {
		return nil, fmt.Errorf("filter/sqlite: open held body: %w", err)
	}
	return &heldFile{File: f, size: h.Size}, nil
}

type heldFile struct {
	*os.File
	size int64
}

func (h *heldFile) Size() int64 { return h.size }

// Delete implements filter.QuarantineStore.
func (d *DB) Delete(ctx context.Context, domain string, id int64) error {
	var blob string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM quarantine WHERE domain = $1 AND id = $2 RETURNING blob`, domain, id).Scan(&blob)
		if errors.Is(err, sql.ErrNoRows) {
			return filter.ErrNotFound
		}
		return dbErr("quarantine delete", err)
	})
	if err != nil {
		return err
	}
	d.dropBlobIfUnused(ctx, blob)
	return nil
}

// Expire implements filter.QuarantineStore.
func (d *DB) Expire(ctx context.Context, before time.Time) (int, error) {
	var blobs []string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM quarantine WHERE created < $1 RETURNING blob`, before.Unix())
		if err != nil {
			return dbErr("quarantine expire", err)
		}
		defer func() {
			if err := rows.Close(); err != nil {
				d.log.Warn("filter/sqlite: close rows", "err", err)
			}
		}()
		for rows.Next() {
			var b string
			if err := rows.Scan(&b); err != nil {
				return dbErr("quarantine expire", err)
			}
			blobs = append(blobs, b)
		}
		return dbErr("quarantine expire", rows.Err())
	})
	if err != nil {
		return 0, err
	}
	d.dropBlobs(ctx, blobs)
	return len(blobs), nil
}

// dropBlobs removes each of blobs (repeats allowed) that no row references any more.
func (d *DB) dropBlobs(ctx context.Context, blobs []string) {
	seen := map[string]bool{}
	for _, b := range blobs {
		if !seen[b] {
			seen[b] = true
			d.dropBlobIfUnused(ctx, b)
		}
	}
}

// dropBlobIfUnused removes a held body no row references. A failure only leaves a file
// behind (logged); it never loses a held message: the check reads committed rows, and
// Hold writes the file before its rows.
func (d *DB) dropBlobIfUnused(ctx context.Context, blob string) {
	d.blobMu.Lock()
	defer d.blobMu.Unlock()
	d.dropUnusedLocked(ctx, blob)
}

func (d *DB) dropUnusedLocked(ctx context.Context, blob string) {
	var n int
	if err := d.wdb.QueryRowContext(ctx, `SELECT count(*) FROM quarantine WHERE blob = $1`, blob).Scan(&n); err != nil {
		d.log.Warn("filter/sqlite: held body reference count", "blob", blob, "err", err)
		return
	}
	if n > 0 {
		return
	}
	if err := os.Remove(d.blobPath(blob)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.log.Warn("filter/sqlite: remove held body", "blob", blob, "err", err)
	}
}
