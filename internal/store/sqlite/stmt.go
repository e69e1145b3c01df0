package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// stmtCache keeps prepared statements by their SQL text. SQLite compiles every statement
// it is given; a delivery runs about ten small ones, and compiling them each time cost a
// third of the committer's CPU. database/sql prepares a statement once per connection and
// reuses it inside a transaction on that connection (Tx.StmtContext).
//
// The write side has one connection, held by the open transaction while jobs run, so a
// statement cannot be prepared then: a miss runs unprepared and is remembered, and the
// committer prepares what was missed between batches (prepareMissed).
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	missed map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}, missed: map[string]bool{}}
}

// lookup returns the prepared statement for q, or nil after noting the miss.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.m[q]
	if st == nil {
		c.missed[q] = true
	}
	return st
}

// prepareMissed prepares the statements lookup missed. The write connection must be free.
func (c *stmtCache) prepareMissed(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.missed {
		delete(c.missed, q)
		st, err := c.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		c.m[q] = st
	}
	return nil
}

// get returns the prepared statement for q, preparing it now (read pool).
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}
