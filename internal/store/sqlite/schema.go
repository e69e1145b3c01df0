package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations are applied in order; migrations[i] brings the schema to version i+1. Never
// edit a released migration: append a new one.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('uidvalidity', 0), ('pack', 1);

CREATE TABLE accounts (
	domain   TEXT NOT NULL,
	id       INTEGER NOT NULL,
	bytes    INTEGER NOT NULL DEFAULT 0,
	messages INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (domain, id)
) WITHOUT ROWID;

CREATE TABLE mailboxes (
	id            INTEGER PRIMARY KEY,
	domain        TEXT NOT NULL,
	account       INTEGER NOT NULL,
	name          TEXT NOT NULL,
	special_use   TEXT NOT NULL DEFAULT '',
	subscribed    INTEGER NOT NULL DEFAULT 0,
	uidvalidity   INTEGER NOT NULL,
	uidnext       INTEGER NOT NULL DEFAULT 1,
	highestmodseq INTEGER NOT NULL DEFAULT 0,
	messages      INTEGER NOT NULL DEFAULT 0,
	unseen        INTEGER NOT NULL DEFAULT 0,
	size          INTEGER NOT NULL DEFAULT 0,
	FOREIGN KEY (domain, account) REFERENCES accounts (domain, id) ON DELETE CASCADE,
	UNIQUE (domain, account, name)
);

CREATE TABLE blobs (
	id     INTEGER PRIMARY KEY,
	sha256 BLOB NOT NULL UNIQUE,
	pack   INTEGER NOT NULL,
	off    INTEGER NOT NULL,
	len    INTEGER NOT NULL,
	refs   INTEGER NOT NULL DEFAULT 0 CHECK (refs >= 0)
);
CREATE INDEX blobs_free ON blobs (pack) WHERE refs = 0;

CREATE TABLE messages (
	id            INTEGER PRIMARY KEY,
	mailbox       INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	flags         TEXT NOT NULL DEFAULT '',
	seen          INTEGER NOT NULL DEFAULT 0,
	internal_date INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	blob          INTEGER NOT NULL REFERENCES blobs (id),
	meta          BLOB,
	UNIQUE (mailbox, uid)
);
CREATE INDEX messages_modseq ON messages (mailbox, modseq);
CREATE INDEX messages_blob ON messages (blob);

CREATE TABLE expunged (
	mailbox INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid     INTEGER NOT NULL,
	modseq  INTEGER NOT NULL,
	PRIMARY KEY (mailbox, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged (mailbox, modseq);
`,
	// 2: the text index of IMAP SEARCH BODY/TEXT (search.go): one row per blob (rowid =
	// blobs.id) with its folded header and body text, trigram-tokenized so any substring
	// of three or more characters is found through the index. detail=none keeps it small:
	// GLOB needs no positions. A blob no message references any more leaves the index.
	// search_state counts, per searched mailbox, the messages added (gen, by trigger,
	// whatever the path: delivery, copy, import) and the gen up to which every message's
	// blob is known indexed (clean), so a search skips the check when nothing came in.
	`
CREATE VIRTUAL TABLE search_text USING fts5(header, body, tokenize = 'trigram case_sensitive 1', detail = none);
CREATE TRIGGER search_text_free AFTER UPDATE OF refs ON blobs WHEN NEW.refs = 0
BEGIN
	DELETE FROM search_text WHERE rowid = NEW.id;
END;
CREATE TABLE search_state (
	mailbox INTEGER PRIMARY KEY REFERENCES mailboxes (id) ON DELETE CASCADE,
	gen     INTEGER NOT NULL DEFAULT 0,
	clean   INTEGER NOT NULL DEFAULT -1
);
CREATE TRIGGER search_state_add AFTER INSERT ON messages
BEGIN
	UPDATE search_state SET gen = gen + 1 WHERE mailbox = NEW.mailbox;
END;
`,
	// 3: the time zone of the internal date, in seconds east of UTC (an APPEND date-time
	// keeps its zone, RFC 9051 2.3.3); NULL for rows from before, shown in local time.
	`ALTER TABLE messages ADD COLUMN date_zone INTEGER;`,
	// 4: sorted pages (list.go, store.Lister): indexes on (mailbox, sort key, uid) for
	// every list order, the from and subject keys (store.SortKeys; NULL until the first
	// page sorted by them fills them in), and partial indexes of the unseen and flagged
	// messages for filtered pages. \Flagged is a system flag: no keyword contains it.
	`
ALTER TABLE messages ADD COLUMN sort_from TEXT;
ALTER TABLE messages ADD COLUMN sort_subject TEXT;
CREATE INDEX messages_by_date ON messages (mailbox, internal_date, uid);
CREATE INDEX messages_by_size ON messages (mailbox, size, uid);
CREATE INDEX messages_by_from ON messages (mailbox, sort_from, uid);
CREATE INDEX messages_by_subject ON messages (mailbox, sort_subject, uid);
CREATE INDEX messages_unseen ON messages (mailbox, uid) WHERE seen = 0;
CREATE INDEX messages_flagged ON messages (mailbox, uid) WHERE instr(flags, '\Flagged') > 0;
`,
	// 5: the from and subject sort keys move to a narrow table of their own: filling them
	// in as columns of messages rewrote every row with its meta (100,000 rows: 30 s). A
	// trigger gives every new message a row with NULL keys (filled before the first page
	// sorted by them, store.Lister) and another removes it with the message; existing
	// messages get theirs here.
	`
DROP INDEX messages_by_from;
DROP INDEX messages_by_subject;
ALTER TABLE messages DROP COLUMN sort_from;
ALTER TABLE messages DROP COLUMN sort_subject;
CREATE TABLE sort_keys (
	mailbox INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
	uid     INTEGER NOT NULL,
	sender  TEXT,
	subject TEXT,
	PRIMARY KEY (mailbox, uid)
) WITHOUT ROWID;
CREATE INDEX sort_keys_from ON sort_keys (mailbox, sender, uid);
CREATE INDEX sort_keys_subject ON sort_keys (mailbox, subject, uid);
CREATE TRIGGER sort_keys_add AFTER INSERT ON messages
BEGIN
	INSERT OR REPLACE INTO sort_keys (mailbox, uid) VALUES (NEW.mailbox, NEW.uid);
END;
CREATE TRIGGER sort_keys_del AFTER DELETE ON messages
BEGIN
	DELETE FROM sort_keys WHERE mailbox = OLD.mailbox AND uid = OLD.uid;
END;
INSERT OR REPLACE INTO sort_keys (mailbox, uid) SELECT mailbox, uid FROM messages;
`,
	// 6: the insert paths (deliver, append, copy and move, import) write a message's
	// sort_keys row with its keys just before the message, in the same transaction, so no
	// first sort fills a folder; the trigger now only adds a row (NULL keys, filled lazily)
	// where none was written, and keeps a written one. A trigger's own conflict clause
	// applies because the messages INSERTs carry none.
	`
DROP TRIGGER sort_keys_add;
CREATE TRIGGER sort_keys_add AFTER INSERT ON messages
BEGIN
	INSERT OR IGNORE INTO sort_keys (mailbox, uid) VALUES (NEW.mailbox, NEW.uid);
END;
`,
	// 7: the header search text (store.HeaderSearcher, search_header.go) in the
	// sort_keys rows, one column per field, written with the sort keys by every insert
	// path; NULL for rows from before (filled before a header search answers), "" for a
	// message whose Meta gives none.
	`
ALTER TABLE sort_keys ADD COLUMN h_from TEXT;
ALTER TABLE sort_keys ADD COLUMN h_to TEXT;
ALTER TABLE sort_keys ADD COLUMN h_cc TEXT;
ALTER TABLE sort_keys ADD COLUMN h_bcc TEXT;
ALTER TABLE sort_keys ADD COLUMN h_subject TEXT;
`,
	// 8: the text index's per-mailbox UID watermark (search.go): every message with a UID
	// below mark has its blob indexed, so the check for unindexed blobs reads only the
	// UIDs from mark on (it read the whole mailbox, for every delivery's background
	// pass). New messages take UIDs from uidnext; an insert below the mark (an import)
	// lowers it in the trigger that counts it, whatever the path. 0: nothing known.
	`
ALTER TABLE search_state ADD COLUMN mark INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER search_state_add;
CREATE TRIGGER search_state_add AFTER INSERT ON messages
BEGIN
	UPDATE search_state SET gen = gen + 1, mark = min(mark, NEW.uid) WHERE mailbox = NEW.mailbox;
END;
`,
	// 9: the mark also rises while mail keeps coming in (version 8 raised it only when no
	// message came in between a check's start and its end, so a busy mailbox kept
	// reading everything): epoch counts the inserts below the mailbox's UIDNEXT (an
	// import's; deliveries, APPEND, COPY and MOVE take UIDNEXT itself, saved after the
	// insert), and a check raises the mark to the UIDNEXT it read when epoch is unchanged.
	`
ALTER TABLE search_state ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER search_state_add;
CREATE TRIGGER search_state_add AFTER INSERT ON messages
BEGIN
	UPDATE search_state SET gen = gen + 1, mark = min(mark, NEW.uid),
		epoch = epoch + (NEW.uid < (SELECT uidnext FROM mailboxes WHERE id = NEW.mailbox))
	WHERE mailbox = NEW.mailbox;
END;
`,
	// 10: the text index moves to its own database file, search.db (searchdb.go), so its
	// writes never hold store.db's write lock. A trigger cannot reach another file: the
	// blobs whose last reference goes are queued in search_free (seq orders the queue, a
	// blob freed twice is queued twice) and the freer deletes their rows from search.db.
	// search_state stays here and is reset (its marks described rows that go), so the
	// background indexer's start-up scan rebuilds the index; meta 'search_db' is the id of
	// the search.db file the state describes (0: none yet).
	`
DROP TRIGGER search_text_free;
DROP TABLE search_text;
CREATE TABLE search_free (
	seq  INTEGER PRIMARY KEY,
	blob INTEGER NOT NULL
);
CREATE TRIGGER search_free_add AFTER UPDATE OF refs ON blobs WHEN NEW.refs = 0 AND OLD.refs > 0
BEGIN
	INSERT INTO search_free (blob) VALUES (NEW.id);
END;
UPDATE search_state SET gen = gen + 1, epoch = epoch + 1, clean = -1, mark = 0;
INSERT INTO meta (key, value) VALUES ('search_db', 0);
`,
}

// migrate brings the database to the newest schema in one immediate transaction, so two
// processes opening a fresh shard at once cannot both apply a migration.
func migrate(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite store: migrate: %w", err)
	}
	var v int
	switch err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("sqlite store: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sqlite store: migrate: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("sqlite store: schema version %d is newer than this program (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("sqlite store: migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = $1`, len(migrations)); err != nil {
		return fmt.Errorf("sqlite store: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite store: migrate: commit: %w", err)
	}
	return nil
}

// rollback rolls tx back, ignoring the "already done" case.
func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}
