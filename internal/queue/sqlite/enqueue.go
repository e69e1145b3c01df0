package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"mailgrid/internal/mail"
	"mailgrid/internal/obs"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

const tmpSuffix = ".tmp"

// Enqueue stores the body (fsynced) and then commits the item and its recipients.
// Duplicate recipient addresses are stored once.
func (q *Queue) Enqueue(ctx context.Context, env queue.Envelope, rcpts []queue.Recipient, body store.Body) (string, error) {
	rcpts = dedupe(rcpts)
	if len(rcpts) == 0 {
		return "", errors.New("queue: enqueue without recipients")
	}
	id := obs.NewID()
	if err := q.writeBody(id, body); err != nil {
		return "", fmt.Errorf("queue: store body: %w", err)
	}
	if err := q.insert(ctx, id, env, rcpts, body.Size(), time.Now()); err != nil {
		return "", errors.Join(fmt.Errorf("queue: enqueue: %w", err), q.removeBody(id))
	}
	return id, nil
}

func dedupe(rcpts []queue.Recipient) []queue.Recipient {
	seen := make(map[string]bool, len(rcpts))
	out := make([]queue.Recipient, 0, len(rcpts))
	for _, r := range rcpts {
		if seen[r.Addr] {
			continue
		}
		seen[r.Addr] = true
		out = append(out, r)
	}
	return out
}

func (q *Queue) bodyPath(id string) string { return filepath.Join(q.bodyDir, id) }

// writeBody writes the body to a temporary file, fsyncs it, renames it into place and
// fsyncs the directory, so the file and its name are both durable.
func (q *Queue) writeBody(id string, body store.Body) (err error) {
	tmp := q.bodyPath(id) + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreNotExist(os.Remove(tmp)))
		}
	}()
	n, err := io.Copy(f, io.NewSectionReader(body, 0, body.Size()))
	if err == nil && n != body.Size() {
		err = fmt.Errorf("short body: %d of %d octets", n, body.Size())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, q.bodyPath(id)); err != nil {
		return err
	}
	return syncDir(q.bodyDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// removeBody unlinks a body; a missing file is not an error.
func (q *Queue) removeBody(id string) error {
	return ignoreNotExist(os.Remove(q.bodyPath(id)))
}

func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (q *Queue) insert(ctx context.Context, id string, env queue.Envelope, rcpts []queue.Recipient, size int64, now time.Time) (err error) {
	tx, err := q.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	_, err = tx.ExecContext(ctx, `INSERT INTO items (id, env_from, env_id, ret, smtputf8, sender_domain, sender_id, size, queued)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		id, env.From, env.EnvID, env.Ret, env.SMTPUTF8, env.Sender.Domain, env.Sender.ID, size, now.UnixNano())
	if err != nil {
		return err
	}
	for i, r := range rcpts {
		_, err = tx.ExecContext(ctx, `INSERT INTO rcpts (item_id, idx, addr, domain, notify, orcpt, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			id, i, r.Addr, domainOf(r.Addr), strings.Join(r.Notify, ","), r.ORcpt, string(queue.StateQueued))
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// domainOf returns the ASCII domain of an address for filtering ("" if unparsable).
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	d, err := mail.ParseDomain(addr[at+1:])
	if err != nil {
		return strings.ToLower(addr[at+1:])
	}
	return d
}

// ns stores a time as unix nanoseconds; the zero time is 0.
func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNS is the inverse of ns.
func fromNS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v)
}

// execOne runs a statement that must touch exactly one item, else ErrNotFound.
func execOne(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) error {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return queue.ErrNotFound
	}
	return nil
}
