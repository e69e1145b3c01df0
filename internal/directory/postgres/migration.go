package postgres

// The migration journal (directory.MigrationJournal): one row per user move or copy,
// which package cluster updates as it goes, and the compare-and-set of an account's
// shard that ends a move. The exclusive right to migrate an account is a session-level
// advisory lock on a connection held for the whole run: a second `user move` of the same
// account is refused at once, and a process killed midway frees it with its connection,
// so the re-run resumes without waiting for a lease to expire.

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/directory"
)

var _ directory.MigrationJournal = (*Directory)(nil)

// migrationAccountLock is the class of the pg_try_advisory_lock(class, account id) key
// of a running migration ("mgmv" in ASCII).
const migrationAccountLock int32 = 0x6d676d76

// schemaV5 adds the migration journal. At most one unfinished migration per account (the
// partial unique index); finished rows stay as history and go with their account.
const schemaV5 = `
CREATE TABLE migrations (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	domain     text COLLATE "C" NOT NULL,
	address    text NOT NULL,
	kind       text NOT NULL CHECK (kind IN ('move', 'copy')),
	source     text COLLATE "C" NOT NULL,
	target     text COLLATE "C" NOT NULL,
	state      text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled')),
	phase      text NOT NULL,
	owner      text NOT NULL,
	rounds     integer NOT NULL DEFAULT 0,
	messages   bigint NOT NULL DEFAULT 0,
	bytes      bigint NOT NULL DEFAULT 0,
	fence_ms   bigint NOT NULL DEFAULT 0,
	error      text NOT NULL DEFAULT '',
	started_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX migrations_unfinished ON migrations(account_id) WHERE state IN ('running', 'failed');
`

const migrationCols = `id, account_id, domain, address, kind, source, target, state, phase, owner,
	rounds, messages, bytes, fence_ms, error, started_at, updated_at`

func scanMigration(row pgx.Row) (directory.Migration, error) {
	var m directory.Migration
	var kind, state string
	err := row.Scan(&m.ID, &m.AccountID, &m.Domain, &m.Address, &kind, &m.Source, &m.Target, &state, &m.Phase,
		&m.Owner, &m.Rounds, &m.Messages, &m.Bytes, &m.FenceMS, &m.Error, &m.Started, &m.Updated)
	m.Kind, m.State = directory.MigrationKind(kind), directory.MigrationState(state)
	m.Started, m.Updated = m.Started.UTC(), m.Updated.UTC()
	return m, err
}

// LockMigration implements directory.MigrationJournal.
func (d *Directory) LockMigration(ctx context.Context, accountID int64) (func(), error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres directory: migration lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2::integer)`, migrationAccountLock,
		int32(accountID)).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("postgres directory: migration lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, fmt.Errorf("account %d: %w", accountID, directory.ErrBusy)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2::integer)`, migrationAccountLock,
			int32(accountID)); err != nil {
			// The lock is session-level: a connection we cannot unlock must not go back
			// to the pool holding it.
			d.log.Warn("postgres directory: migration unlock", "err", err)
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}

// StartMigration implements directory.MigrationJournal.
func (d *Directory) StartMigration(ctx context.Context, m directory.Migration) (directory.Migration, bool, error) {
	if m.Kind != directory.MigrationMove && m.Kind != directory.MigrationCopy {
		return m, false, fmt.Errorf("%w: migration kind %q", directory.ErrInvalid, m.Kind)
	}
	var out directory.Migration
	var resumed bool
	err := d.write(ctx, func(tx pgx.Tx) error {
		resumed = false
		old, err := scanMigration(tx.QueryRow(ctx, `SELECT `+migrationCols+` FROM migrations
			WHERE account_id = $1 AND state IN ('running', 'failed') FOR UPDATE`, m.AccountID))
		switch {
		case err == nil:
			if old.Kind != m.Kind || old.Target != m.Target {
				return fmt.Errorf("%w: migration %d (%s to %s) of this account is unfinished: re-run it or cancel it",
					directory.ErrExists, old.ID, old.Kind, old.Target)
			}
			out, resumed = old, true
			out.State, out.Owner = directory.MigrationRunning, m.Owner
			_, err = tx.Exec(ctx, `UPDATE migrations SET state = 'running', owner = $2, updated_at = now() WHERE id = $1`,
				old.ID, m.Owner)
			return err
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		out, err = scanMigration(tx.QueryRow(ctx, `INSERT INTO migrations (account_id, domain, address, kind,
				source, target, state, phase, owner, started_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8, now(), now()) RETURNING `+migrationCols,
			m.AccountID, m.Domain, m.Address, string(m.Kind), m.Source, m.Target, directory.PhaseCopy, m.Owner))
		return err
	})
	if err != nil {
		if errors.Is(err, directory.ErrExists) {
			return out, false, err
		}
		return out, false, fmt.Errorf("postgres directory: start migration: %w", err)
	}
	return out, resumed, nil
}

// SaveMigration implements directory.MigrationJournal.
func (d *Directory) SaveMigration(ctx context.Context, m directory.Migration) error {
	tag, err := d.pool.Exec(ctx, `UPDATE migrations SET state = $2, phase = $3, owner = $4, rounds = $5,
			messages = $6, bytes = $7, fence_ms = $8, error = $9, updated_at = now()
		WHERE id = $1`, m.ID, string(m.State), m.Phase, m.Owner, m.Rounds, m.Messages, m.Bytes, m.FenceMS, m.Error)
	if err != nil {
		return fmt.Errorf("postgres directory: save migration %d: %w", m.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound(fmt.Sprintf("migration %d", m.ID))
	}
	return nil
}

// SwitchShard implements directory.MigrationJournal.
func (d *Directory) SwitchShard(ctx context.Context, m directory.Migration) error {
	return d.write(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM shards WHERE name = $1`, m.Target).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("shard " + m.Target)
		}
		if err != nil {
			return fmt.Errorf("postgres directory: switch shard: %w", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE accounts SET shard = $3 WHERE id = $1 AND shard = $2`,
			m.AccountID, m.Source, m.Target)
		if err != nil {
			return fmt.Errorf("postgres directory: switch shard: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: account %d is not on shard %q", directory.ErrInvalid, m.AccountID, m.Source)
		}
		tag, err = tx.Exec(ctx, `UPDATE migrations SET phase = $2, updated_at = now()
			WHERE id = $1 AND state = 'running'`, m.ID, directory.PhaseSwitched)
		if err != nil {
			return fmt.Errorf("postgres directory: switch shard: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: migration %d is not running", directory.ErrInvalid, m.ID)
		}
		return nil
	})
}

// Migrations implements directory.MigrationJournal.
func (d *Directory) Migrations(ctx context.Context, unfinishedOnly bool) ([]directory.Migration, error) {
	q := `SELECT ` + migrationCols + ` FROM migrations`
	if unfinishedOnly {
		q += ` WHERE state IN ('running', 'failed')`
	}
	rows, err := d.pool.Query(ctx, q+` ORDER BY id DESC`)
	var out []directory.Migration
	if err == nil {
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Migration, error) { return scanMigration(r) })
	}
	if err != nil {
		return nil, fmt.Errorf("postgres directory: migrations: %w", err)
	}
	return out, nil
}
