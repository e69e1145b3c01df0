package sqlite

// SchemaVersion is the schema version this code writes (PRAGMA user_version).
const SchemaVersion = 5

// migrations returns the schema steps in order: step i brings user_version i to i+1.
// Never edit a released step; append one and bump SchemaVersion.
func migrations() []string { return []string{schemaV1, schemaV2, schemaV3, schemaV4, schemaV5} }

// schemaV1: times are Unix seconds (UTC).
const schemaV1 = `
CREATE TABLE spam_levels (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,  -- 0: the domain's default
	level   INTEGER NOT NULL,
	PRIMARY KEY (domain, account)
) STRICT;

CREATE TABLE bayes_totals (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	spam    INTEGER NOT NULL,
	ham     INTEGER NOT NULL,
	PRIMARY KEY (domain, account)
) STRICT;

CREATE TABLE bayes_tokens (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	token   TEXT NOT NULL,
	spam    INTEGER NOT NULL,
	ham     INTEGER NOT NULL,
	PRIMARY KEY (domain, account, token)
) STRICT, WITHOUT ROWID;

CREATE TABLE sieve_scripts (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	name    TEXT NOT NULL,
	source  TEXT NOT NULL,
	active  INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (domain, account, name)
) STRICT;
CREATE UNIQUE INDEX sieve_one_active ON sieve_scripts(domain, account) WHERE active = 1;

CREATE TABLE vacation_replies (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	sender  TEXT NOT NULL,
	handle  TEXT NOT NULL,
	sent    INTEGER NOT NULL,
	PRIMARY KEY (domain, account, sender, handle)
) STRICT;

CREATE TABLE quarantine (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	rcpt    TEXT NOT NULL,
	sender  TEXT NOT NULL,
	reason  TEXT NOT NULL,
	mailet  TEXT NOT NULL,
	size    INTEGER NOT NULL,
	created INTEGER NOT NULL,
	blob    TEXT NOT NULL   -- hex sha256 of the body: the file held/<blob>
) STRICT;
CREATE INDEX quarantine_by_owner ON quarantine(domain, account, id);
CREATE INDEX quarantine_by_created ON quarantine(created);
CREATE INDEX quarantine_by_blob ON quarantine(blob);
`

// schemaV2: block lists and domain filter rules (the empty domain is system-wide).
const schemaV2 = `
CREATE TABLE block_list (
	domain  TEXT NOT NULL,
	kind    INTEGER NOT NULL,  -- filter.BlockKind
	value   TEXT NOT NULL,     -- normalised (filter.NormalizeBlock)
	note    TEXT NOT NULL,
	created INTEGER NOT NULL,
	PRIMARY KEY (domain, kind, value)
) STRICT;

CREATE TABLE domain_rules (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	domain     TEXT NOT NULL,
	name       TEXT NOT NULL,
	position   INTEGER NOT NULL,
	enabled    INTEGER NOT NULL,
	match_any  INTEGER NOT NULL,
	conditions TEXT NOT NULL,  -- JSON array of filter.Condition
	action     TEXT NOT NULL,
	arg        TEXT NOT NULL
) STRICT;
CREATE INDEX domain_rules_by_domain ON domain_rules(domain, position, id);
`

// schemaV3: what each account's classifier was trained on (filter.TrainLog).
const schemaV3 = `
CREATE TABLE bayes_trained (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	blob    TEXT NOT NULL,     -- the store's BlobID of the message
	class   INTEGER NOT NULL,  -- bayes.Class
	trained INTEGER NOT NULL,
	PRIMARY KEY (domain, account, blob)
) STRICT, WITHOUT ROWID;
`

// schemaV4: per-domain filter switches (filter.DomainSwitches).
const schemaV4 = `
CREATE TABLE domain_switches (
	domain       TEXT PRIMARY KEY,
	no_antivirus INTEGER NOT NULL,
	no_antispam  INTEGER NOT NULL
) STRICT;
`

// schemaV5: small named documents per account (filter.AccountDocs).
const schemaV5 = `
CREATE TABLE account_docs (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	name    TEXT NOT NULL,
	doc     BLOB NOT NULL,
	updated INTEGER NOT NULL,
	PRIMARY KEY (domain, account, name)
) STRICT, WITHOUT ROWID;
`
