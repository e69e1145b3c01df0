package postgres

import "mailgrid/internal/pgkit"

// SchemaVersion is the schema version this code writes.
const SchemaVersion = 3

// schema is the filter state's versioned schema; its advisory lock key is "mailgrd" and 3
// (the directory has 1, the queue 2). Never edit a released step: append one and bump
// SchemaVersion. Version 1 holds everything the SQLite driver's versions 1 to 3 hold.
func schema() pgkit.Migrations {
	return pgkit.Migrations{Schema: SchemaName, Lock: 0x6d61696c67726403, Version: SchemaVersion, Steps: []string{schemaV1, schemaV2, schemaV3}}
}

// schemaV3 adds small named documents per account (filter.AccountDocs; SQLite's version 5).
const schemaV3 = `
CREATE TABLE account_docs (
	domain  text NOT NULL,
	account bigint NOT NULL,
	name    text COLLATE "C" NOT NULL,
	doc     bytea NOT NULL,
	updated bigint NOT NULL,
	PRIMARY KEY (domain, account, name)
);
`

// schemaV2 adds per-domain filter switches (filter.DomainSwitches; SQLite's version 4).
const schemaV2 = `
CREATE TABLE domain_switches (
	domain       text COLLATE "C" PRIMARY KEY,
	no_antivirus boolean NOT NULL,
	no_antispam  boolean NOT NULL
);
`

const schemaV1 = `
CREATE TABLE spam_levels (
	domain  text NOT NULL,
	account bigint NOT NULL,  -- 0: the domain's default
	level   smallint NOT NULL,
	PRIMARY KEY (domain, account)
);

CREATE TABLE bayes_totals (
	domain  text NOT NULL,
	account bigint NOT NULL,
	spam    bigint NOT NULL CHECK (spam BETWEEN 0 AND 4294967295),
	ham     bigint NOT NULL CHECK (ham BETWEEN 0 AND 4294967295),
	PRIMARY KEY (domain, account)
);

CREATE TABLE bayes_tokens (
	domain  text NOT NULL,
	account bigint NOT NULL,
	token   text COLLATE "C" NOT NULL,
	spam    bigint NOT NULL CHECK (spam BETWEEN 0 AND 4294967295),
	ham     bigint NOT NULL CHECK (ham BETWEEN 0 AND 4294967295),
	PRIMARY KEY (domain, account, token)
);

CREATE TABLE bayes_trained (
	domain  text NOT NULL,
	account bigint NOT NULL,
	blob    text COLLATE "C" NOT NULL,  -- the store's BlobID of the message
	class   smallint NOT NULL,          -- bayes.Class
	trained bigint NOT NULL,
	PRIMARY KEY (domain, account, blob)
);

CREATE TABLE sieve_scripts (
	domain  text NOT NULL,
	account bigint NOT NULL,
	name    text COLLATE "C" NOT NULL,
	source  text NOT NULL,
	active  boolean NOT NULL,
	updated bigint NOT NULL,
	PRIMARY KEY (domain, account, name)
);
CREATE UNIQUE INDEX sieve_one_active ON sieve_scripts(domain, account) WHERE active;

CREATE TABLE vacation_replies (
	domain  text NOT NULL,
	account bigint NOT NULL,
	sender  text NOT NULL,
	handle  text NOT NULL,
	sent    bigint NOT NULL,
	PRIMARY KEY (domain, account, sender, handle)
);

CREATE TABLE held_bodies (
	id   text COLLATE "C" PRIMARY KEY,  -- hex sha256 of the content
	size bigint NOT NULL
);

CREATE TABLE held_chunks (
	body text COLLATE "C" NOT NULL REFERENCES held_bodies(id) ON DELETE CASCADE,
	seq  integer NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (body, seq)
);

CREATE TABLE quarantine (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain  text NOT NULL,
	account bigint NOT NULL,
	rcpt    text NOT NULL,
	sender  text NOT NULL,
	reason  text NOT NULL,
	mailet  text NOT NULL,
	size    bigint NOT NULL,
	created bigint NOT NULL,
	blob    text COLLATE "C" NOT NULL REFERENCES held_bodies(id)
);
CREATE INDEX quarantine_by_owner ON quarantine(domain, account, id);
CREATE INDEX quarantine_by_created ON quarantine(created);
CREATE INDEX quarantine_by_blob ON quarantine(blob);

CREATE TABLE block_list (
	domain  text NOT NULL,
	kind    smallint NOT NULL,  -- filter.BlockKind
	value   text COLLATE "C" NOT NULL,  -- normalised (filter.NormalizeBlock)
	note    text NOT NULL,
	created bigint NOT NULL,
	PRIMARY KEY (domain, kind, value)
);

CREATE TABLE domain_rules (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain     text NOT NULL,
	name       text NOT NULL,
	position   integer NOT NULL,
	enabled    boolean NOT NULL,
	match_any  boolean NOT NULL,
	conditions jsonb NOT NULL,  -- array of filter.Condition
	action     text NOT NULL,
	arg        text NOT NULL
);
CREATE INDEX domain_rules_by_domain ON domain_rules(domain, position, id);
`
