package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/mail"
	"mailgrid/internal/obs"
	"mailgrid/internal/pgkit"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Enqueue stores the item, its recipients (duplicate addresses once) and the body in one
// transaction. The body is read and sent one chunk at a time; the item, the recipients
// and the first chunk travel in one round trip.
func (q *Queue) Enqueue(ctx context.Context, env queue.Envelope, rcpts []queue.Recipient, body store.Body) (id string, err error) {
	rcpts = dedupe(rcpts)
	if len(rcpts) == 0 {
		return "", errors.New("queue: enqueue without recipients")
	}
	id = obs.NewID()
	size := body.Size()
	buf := make([]byte, min(size, ChunkSize))
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return "", fmt.Errorf("queue: enqueue: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("queue: enqueue: %w", err), pgkit.Rollback(tx))
			id = ""
		}
	}()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO items (id, env_from, env_id, ret, smtputf8, sender_domain, sender_id, size, queued)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		id, env.From, env.EnvID, env.Ret, env.SMTPUTF8, env.Sender.Domain, env.Sender.ID, size, time.Now().UnixNano())
	queueRcpts(b, id, rcpts)
	chunks := bodyChunks()
	if size > 0 {
		n, err := chunks.ReadChunk(body, buf, 0)
		if err != nil {
			return "", err
		}
		b.Queue(chunks.InsertSQL(), id, 0, buf[:n])
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return "", err
	}
	if err := chunks.Write(ctx, tx, id, body, 1, buf); err != nil {
		return "", err
	}
	return id, tx.Commit(ctx)
}

// queueRcpts adds the insertion of every recipient, in order, as one statement.
func queueRcpts(b *pgx.Batch, id string, rcpts []queue.Recipient) {
	addrs, domains, orcpts := make([]string, len(rcpts)), make([]string, len(rcpts)), make([]string, len(rcpts))
	notifies := make([]string, len(rcpts)) // NOTIFY keywords, comma-separated (RFC 3461 4.1)
	for i, r := range rcpts {
		addrs[i], domains[i], orcpts[i], notifies[i] = r.Addr, domainOf(r.Addr), r.ORcpt, strings.Join(r.Notify, ",")
	}
	b.Queue(`INSERT INTO rcpts (item_id, idx, addr, domain, notify, orcpt, state)
		SELECT $1, r.ord - 1, r.addr, r.domain, r.notify, r.orcpt, 'queued'
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS r(addr, domain, notify, orcpt, ord)`,
		id, addrs, domains, notifies, orcpts)
}

func dedupe(rcpts []queue.Recipient) []queue.Recipient {
	seen := make(map[string]bool, len(rcpts))
	out := make([]queue.Recipient, 0, len(rcpts))
	for _, r := range rcpts {
		if !seen[r.Addr] {
			seen[r.Addr] = true
			out = append(out, r)
		}
	}
	return out
}

// domainOf returns the ASCII domain of an address for filtering ("" without '@').
func domainOf(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	if d, err := mail.ParseDomain(addr[at+1:]); err == nil {
		return d
	}
	return strings.ToLower(addr[at+1:])
}
