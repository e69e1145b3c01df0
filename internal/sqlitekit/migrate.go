package sqlitekit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Migrate brings db's PRAGMA user_version up to len(steps), one transaction per step
// (the step and its user_version update commit together), and refuses a database with a
// higher version. The version is read inside each step's transaction; on a writer (one
// connection, BEGIN IMMEDIATE) a second program opening the same file waits for the lock
// and then finds the step applied, so no step runs twice.
func Migrate(ctx context.Context, db *sql.DB, steps []string) error {
	for range len(steps) + 1 { // each round applies a step or returns
		done, err := migrateStep(ctx, db, steps)
		if err != nil || done {
			return err
		}
	}
	return errors.New("migrate: schema version did not advance")
}

// migrateStep applies the next step, if any, reading the version inside the step's
// transaction; done reports that the schema is current.
func migrateStep(ctx context.Context, db *sql.DB, steps []string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil || done {
			err = errors.Join(err, IgnoreDone(tx.Rollback()))
		}
	}()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("schema version: %w", err)
	}
	if v > len(steps) {
		return false, fmt.Errorf("schema version %d is newer than this program's %d", v, len(steps))
	}
	if v == len(steps) {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
		return false, fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	// PRAGMA takes no bound parameters; v+1 is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	return false, nil
}
