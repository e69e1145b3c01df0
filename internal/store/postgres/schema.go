package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/store"
)

// DefaultSchema is the PostgreSQL schema holding the store's tables. Every connection of
// the pool has the store's schema as its search_path, so the SQL names tables unqualified
// and a shard database can also hold other drivers' tables (queue, directory), or other
// shards in other schemas, without a clash.
const DefaultSchema = "mailgrid_store"

// migrationLock is the class of the pg_advisory_xact_lock(class, hashtext(schema)) key
// serialising migrations of one schema: "mgst" in ASCII. Nodes opening the same shard at
// once apply each migration exactly once.
const migrationLock int32 = 0x6d677374

// validSchema accepts lower-case identifiers that need no quoting.
func validSchema(s string) error {
	if s == "" || len(s) > 63 || (s[0] >= '0' && s[0] <= '9') {
		return fmt.Errorf("postgres store: schema %q: %w", s, store.ErrInvalid)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("postgres store: schema %q: only a-z, 0-9 and _: %w", s, store.ErrInvalid)
		}
	}
	return nil
}

// migrations are applied in order; migrations[i] brings the schema to version i+1. Never
// edit a released migration: append a new one.
var migrations = []string{
	// 1: initial schema. Text columns that are compared or ordered use the "C" collation:
	// byte order, which for UTF-8 is code point order, the order Go's strings.Compare and
	// the SQLite driver give.
	`
CREATE TABLE meta (
	key   text PRIMARY KEY,
	value bigint NOT NULL
);
INSERT INTO meta (key, value) VALUES ('uidvalidity', 0);

CREATE TABLE accounts (
	domain   text COLLATE "C" NOT NULL,
	id       bigint NOT NULL,
	bytes    bigint NOT NULL DEFAULT 0,
	messages bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (domain, id)
);

CREATE TABLE mailboxes (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain        text COLLATE "C" NOT NULL,
	account       bigint NOT NULL,
	name          text COLLATE "C" NOT NULL,
	special_use   text NOT NULL DEFAULT '',
	subscribed    boolean NOT NULL DEFAULT false,
	uidvalidity   bigint NOT NULL,
	uidnext       bigint NOT NULL DEFAULT 1,
	highestmodseq bigint NOT NULL DEFAULT 0,
	messages      bigint NOT NULL DEFAULT 0,
	unseen        bigint NOT NULL DEFAULT 0,
	size          bigint NOT NULL DEFAULT 0,
	FOREIGN KEY (domain, account) REFERENCES accounts (domain, id) ON DELETE CASCADE,
	UNIQUE (domain, account, name)
);

CREATE TABLE blobs (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	sha256   bytea NOT NULL UNIQUE,
	size     bigint NOT NULL,
	refs     bigint NOT NULL DEFAULT 0 CHECK (refs >= 0),
	freed_at timestamptz
);
CREATE INDEX blobs_free ON blobs (freed_at) WHERE refs = 0;

CREATE TABLE blob_parts (
	blob bigint NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
	part integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (blob, part)
);

CREATE TABLE messages (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	mailbox       bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid           bigint NOT NULL,
	modseq        bigint NOT NULL,
	flags         text[] NOT NULL DEFAULT '{}',
	seen          boolean NOT NULL DEFAULT false,
	internal_date timestamptz NOT NULL,
	size          bigint NOT NULL,
	blob          bigint NOT NULL REFERENCES blobs (id),
	meta          bytea,
	UNIQUE (mailbox, uid)
);
CREATE INDEX messages_modseq ON messages (mailbox, modseq);
CREATE INDEX messages_blob ON messages (blob);

CREATE TABLE expunged (
	mailbox bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid     bigint NOT NULL,
	modseq  bigint NOT NULL,
	PRIMARY KEY (mailbox, uid)
);
CREATE INDEX expunged_modseq ON expunged (mailbox, modseq);
`,
	// 2: the text index of IMAP SEARCH BODY/TEXT (search.go): one row per blob with its
	// folded header and body text, and pg_trgm GIN indexes so LIKE '%needle%' finds
	// candidates by trigram and PostgreSQL rechecks them (exact). pg_trgm is a trusted
	// extension (PostgreSQL 13+): the database owner may create it. It goes to the public
	// schema, shared by every shard schema of the database (a shard's DROP SCHEMA must
	// not take it away from the others); the operator class is named with the schema the
	// extension is in, since search_path holds only the shard's schema. fastupdate off:
	// a GIN pending list is scanned linearly by every query until a vacuum merges it,
	// and rows arrive here in lazy batches, not on a latency-bound path.
	`
CREATE TABLE search_text (
	blob   bigint PRIMARY KEY REFERENCES blobs (id) ON DELETE CASCADE,
	header text NOT NULL,
	body   text NOT NULL
);
DO $$
DECLARE
	ext text;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('mailgrid pg_trgm'));
	CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
	SELECT n.nspname INTO ext FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
		WHERE e.extname = 'pg_trgm';
	EXECUTE format('CREATE INDEX search_text_header ON search_text USING gin (header %I.gin_trgm_ops) WITH (fastupdate = off)', ext);
	EXECUTE format('CREATE INDEX search_text_body ON search_text USING gin (body %I.gin_trgm_ops) WITH (fastupdate = off)', ext);
END
$$;
`,
	// 3: the time zone of the internal date, in seconds east of UTC (an APPEND date-time
	// keeps its zone, RFC 9051 2.3.3); NULL for rows written without it, shown in local
	// time.
	`ALTER TABLE messages ADD COLUMN date_zone integer;`,
	// 4: sorted pages (list.go, store.Lister): indexes on (mailbox, sort key, uid) for
	// every list order, the from and subject keys (store.SortKeys, "C" collation: byte
	// order as in Go; NULL until the first page sorted by them fills them in), and partial
	// indexes of the unseen and flagged messages for filtered pages.
	`
ALTER TABLE messages ADD COLUMN sort_from text COLLATE "C", ADD COLUMN sort_subject text COLLATE "C";
CREATE INDEX messages_by_date ON messages (mailbox, internal_date, uid);
CREATE INDEX messages_by_size ON messages (mailbox, size, uid);
CREATE INDEX messages_by_from ON messages (mailbox, sort_from, uid);
CREATE INDEX messages_by_subject ON messages (mailbox, sort_subject, uid);
CREATE INDEX messages_unseen ON messages (mailbox, uid) WHERE NOT seen;
CREATE INDEX messages_flagged ON messages (mailbox, uid) WHERE '\Flagged' = ANY (flags);
`,
	// 5: the from and subject sort keys move to a narrow table of their own: filling them
	// in as columns of messages rewrote every row. A trigger gives every new message a row
	// with NULL keys (filled before the first page sorted by them, store.Lister) and
	// another removes it with the message; existing messages get theirs here. The trigger
	// functions live in the shard's schema and keep its search_path (FROM CURRENT: the
	// migration's), so they find its tables whoever inserts.
	`
DROP INDEX messages_by_from;
DROP INDEX messages_by_subject;
ALTER TABLE messages DROP COLUMN sort_from, DROP COLUMN sort_subject;
CREATE TABLE sort_keys (
	mailbox bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid     bigint NOT NULL,
	sender  text COLLATE "C",
	subject text COLLATE "C",
	PRIMARY KEY (mailbox, uid)
);
CREATE INDEX sort_keys_from ON sort_keys (mailbox, sender, uid);
CREATE INDEX sort_keys_subject ON sort_keys (mailbox, subject, uid);
CREATE FUNCTION sort_keys_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	INSERT INTO sort_keys (mailbox, uid) VALUES (NEW.mailbox, NEW.uid)
		ON CONFLICT (mailbox, uid) DO UPDATE SET sender = NULL, subject = NULL;
	RETURN NULL;
END
$$;
CREATE FUNCTION sort_keys_del() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	DELETE FROM sort_keys WHERE mailbox = OLD.mailbox AND uid = OLD.uid;
	RETURN NULL;
END
$$;
CREATE TRIGGER sort_keys_add AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION sort_keys_add();
CREATE TRIGGER sort_keys_del AFTER DELETE ON messages FOR EACH ROW EXECUTE FUNCTION sort_keys_del();
INSERT INTO sort_keys (mailbox, uid) SELECT mailbox, uid FROM messages;
`,
	// 6: the insert paths (deliver, append, copy and move, import) write a message's
	// sort_keys row with its keys in the same batch, before the message, so no first sort
	// fills a folder; the trigger (fired at the end of the messages INSERT) now only adds a
	// row with NULL keys (filled lazily) where none was written, and keeps a written one.
	`
CREATE OR REPLACE FUNCTION sort_keys_add() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	INSERT INTO sort_keys (mailbox, uid) VALUES (NEW.mailbox, NEW.uid) ON CONFLICT (mailbox, uid) DO NOTHING;
	RETURN NULL;
END
$$;
`,
	// 7: the text index's per-mailbox watermark (search_state.go): every message with a
	// UID below uid has its blob indexed. New messages take UIDs from uidnext, so the
	// index is complete when uid reaches uidnext, and only the UIDs from uid on need the
	// anti-join. An import may add UIDs below it: it lowers uid and bumps epoch, and a
	// check that read an older epoch does not raise the mark. No row: nothing known.
	`
CREATE TABLE search_clean (
	mailbox bigint PRIMARY KEY REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid     bigint NOT NULL DEFAULT 0,
	epoch   bigint NOT NULL DEFAULT 0
);
`,
	// 8: the header search text (store.HeaderSearcher, search_header.go) in the
	// sort_keys rows, one column per field, written with the sort keys by every insert
	// path; NULL for rows from before (filled before a header search answers), '' for a
	// message whose Meta gives none. Adding nullable columns rewrites no row.
	`
ALTER TABLE sort_keys ADD COLUMN h_from text COLLATE "C", ADD COLUMN h_to text COLLATE "C",
	ADD COLUMN h_cc text COLLATE "C", ADD COLUMN h_bcc text COLLATE "C", ADD COLUMN h_subject text COLLATE "C";
`,
	// 9: message bodies are compressed with lz4 instead of pglz (PostgreSQL 14+ built
	// with lz4; otherwise nothing changes). A 4 KiB part exceeds the TOAST threshold and
	// is compressed on every insert: pglz was the largest single cost of storing a
	// body (~18% of an import's database CPU) and of reading it back. Only new values
	// take lz4; parts stored before stay pglz and read back as ever (each value records
	// its method). The column's setting is catalogue-only: no row is rewritten. EXECUTE
	// defers parsing, so a server before 14 (no COMPRESSION clause) skips it too.
	`
DO $$
BEGIN
	EXECUTE 'ALTER TABLE blob_parts ALTER COLUMN data SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
	RAISE NOTICE 'blob_parts.data keeps pglz: %', SQLERRM;
END
$$;
`,
}

// migrate brings the database to the newest schema in one transaction under an advisory
// lock: concurrent Opens wait for the first, then find nothing left to do.
// schema_migrations records each applied version once (its primary key would refuse a
// second application).
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) (err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, migrationLock, schema); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	setup := []string{
		`CREATE SCHEMA IF NOT EXISTS ` + schema, // validSchema: needs no quoting
		`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`,
	}
	for _, q := range setup {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres store: migrate: %w", err)
		}
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("postgres store: migrate: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("postgres store: schema version %d is newer than this program (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("postgres store: migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, i+1); err != nil {
			return fmt.Errorf("postgres store: migration %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres store: migrate: commit: %w", err)
	}
	return nil
}

// rollback rolls tx back (detached from the caller's context, so a cancelled caller
// still releases the connection cleanly), ignoring "already closed".
func rollback(tx pgx.Tx) error {
	if err := tx.Rollback(context.Background()); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}
