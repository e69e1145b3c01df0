package postgres

// The node registry: every running node registers at start and heartbeats; `node list`
// and the admin console read it. Heartbeat times are the database's clock (now()), and
// liveness is judged against the same clock, so skew between nodes never marks a healthy
// node down.

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

// MaxNodeName bounds a node name (a host name fits).
const MaxNodeName = 253

// Node is one registered node.
type Node struct {
	Name          string             // unique in the cluster; letters, digits, '.', '-', '_'
	Addresses     []string           // where it serves ("192.0.2.10", "[2001:db8::1]:25", ...)
	Version       string             // mailgrid version it runs
	Services      []string           // services it runs ("smtp", "submission", "imap", ...)
	Started       time.Time          // process start; zero at RegisterNode means now
	LastHeartbeat time.Time          // database clock; set by RegisterNode and Heartbeat
	Load          map[string]float64 // the node's last reported figures (free-form keys)
	Down          bool               // filled by Nodes: no heartbeat within downAfter
}

func checkNodeName(name string) error {
	if name == "" || len(name) > MaxNodeName {
		return fmt.Errorf("%w: node name %q: 1 to %d characters", directory.ErrInvalid, name, MaxNodeName)
	}
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			continue
		}
		return fmt.Errorf("%w: node name %q: letters, digits, '.', '-' and '_'", directory.ErrInvalid, name)
	}
	return nil
}

// orEmpty keeps NOT NULL columns filled: nil slices and maps are stored empty.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func loadOrEmpty(m map[string]float64) map[string]float64 {
	if m == nil {
		return map[string]float64{}
	}
	return m
}

// RegisterNode records a node starting (or restarting: the row is replaced) and counts
// as its first heartbeat.
func (d *Directory) RegisterNode(ctx context.Context, n Node) error {
	if err := checkNodeName(n.Name); err != nil {
		return err
	}
	var started any = n.Started
	if n.Started.IsZero() {
		started = nil // coalesce to the database's now()
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO nodes (name, addresses, version, services, started_at, last_heartbeat, load)
		VALUES ($1, $2, $3, $4, coalesce($5, now()), now(), $6)
		ON CONFLICT (name) DO UPDATE SET addresses = excluded.addresses, version = excluded.version,
			services = excluded.services, started_at = excluded.started_at,
			last_heartbeat = excluded.last_heartbeat, load = excluded.load`,
		n.Name, orEmpty(n.Addresses), n.Version, orEmpty(n.Services), started, loadOrEmpty(n.Load))
	if err != nil {
		return fmt.Errorf("postgres directory: register node %q: %w", n.Name, err)
	}
	return nil
}

// Heartbeat records that a node is alive, with its current load. ErrNotFound when the
// node is not registered (an operator removed it): the node should RegisterNode again.
func (d *Directory) Heartbeat(ctx context.Context, name string, load map[string]float64) error {
	tag, err := d.pool.Exec(ctx, `UPDATE nodes SET last_heartbeat = now(), load = $2 WHERE name = $1`,
		name, loadOrEmpty(load))
	if err != nil {
		return fmt.Errorf("postgres directory: heartbeat %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("node " + name)
	}
	return nil
}

// Nodes lists the registered nodes by name. A node whose last heartbeat is older than
// downAfter (by the database's clock) is marked Down; downAfter <= 0 marks none.
func (d *Directory) Nodes(ctx context.Context, downAfter time.Duration) ([]Node, error) {
	rows, err := d.pool.Query(ctx, `SELECT name, addresses, version, services, started_at, last_heartbeat, load,
			$1::bigint > 0 AND last_heartbeat < now() - $1::bigint * interval '1 microsecond'
		FROM nodes ORDER BY name`, downAfter.Microseconds())
	var out []Node
	if err == nil {
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Node, error) {
			var n Node
			err := r.Scan(&n.Name, &n.Addresses, &n.Version, &n.Services, &n.Started, &n.LastHeartbeat, &n.Load, &n.Down)
			n.Started, n.LastHeartbeat = n.Started.UTC(), n.LastHeartbeat.UTC()
			return n, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres directory: nodes: %w", err)
	}
	return out, nil
}

// RemoveNode unregisters a node (a clean shutdown, or an operator removing a dead one).
// ErrNotFound if it is not registered.
func (d *Directory) RemoveNode(ctx context.Context, name string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM nodes WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("postgres directory: remove node %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("node " + name)
	}
	return nil
}
