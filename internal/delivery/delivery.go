// Package delivery is mailgrid's inbound pipeline: it takes an SMTP envelope and a message
// body and puts every recipient's copy where it belongs — a mailbox in the store shard that
// holds the recipient's account, or the outbound queue for remote recipients. Every
// front-end that accepts mail (SMTP MX and submission now; LMTP, the JSON API and webmail
// later) goes through it, so policy lives in one place.
//
// Model, in the order a message meets it:
//
//  1. RCPT time — CheckSender and CheckRecipient answer the envelope commands with an *Error
//     that carries the SMTP reply (RFC 5321 4.2, RFC 3463): relay denied for a non-local
//     recipient of an unauthenticated client, unknown or disabled users, size and quota
//     against the SIZE= hint (RFC 1870, RFC 5321 4.5.3.1.10).
//  2. DATA time — Deliver routes each recipient again (the directory may have changed
//     since RCPT): directory.Resolve expands aliases into targets; local targets are grouped
//     by the shard named in their directory.Account.Shard, remote ones (recipients of an
//     authenticated sender, aliases that forward off-site, DSNs) are collected for the
//     queue. A quota pre-check against the real size runs before anything is committed.
//  3. Filters — the mailet chains of package filter (Options.Filters) transform the plan
//     between "envelope accepted" and "commit" (filters.go): the DATA-stage chain runs on
//     the whole message before routing (a reject there is the reply to DATA, a defer
//     451); the local-stage chain once per local account before its copy is stored
//     (Sieve fileinto, Junk filing, discard, redirect); the remote-stage chain once over
//     the remote recipients before they are queued. A chain may quarantine a copy
//     (Options.Quarantine holds it durably; Release delivers it later, past the chains).
//     Header edits are views over the body: a copy whose local chain changed its header
//     is stored from its own view (its own store.Deliver call), the others share one.
//     Redirects and auto-replies are delivered after the commit, through the pipeline
//     again as internal mail (redirect.go), with a Delivered-To field against loops;
//     with Options.SRS a redirected copy of a foreign sender gets an SRS sender of the
//     redirecting domain, and bounces to it are routed back (srs.go). Aliases that
//     forward off-site are queued in the same commit, with the same SRS and loop rules
//     (srs_alias.go). The envelope
//     stages (connect, MAIL, RCPT) run inside CheckConnect, CheckSender and
//     CheckRecipient (envelope.go).
//  4. Commit — ONE store.Deliver per shard (one blob for all local copies; the store group
//     commits concurrent deliveries under one fsync), then ONE queue.Enqueue for all remote
//     recipients. Local copies get Return-Path (RFC 5321 4.4) prepended without copying the
//     body: bodies are store.Body (io.ReaderAt + Size) and Concat composes them.
//
// Durability: when Deliver returns, every result without Err is durably committed; a
// front-end may say 250 only then.
//
// Partial failure (a recipient accepted at RCPT that fails at DATA, e.g. its mailbox filled
// up meanwhile): Outcome turns the per-recipient results into one reply. If nothing was
// committed the whole message gets the failure (452 4.2.2 / 552 5.2.2 ...), the client keeps
// responsibility and no copy exists, so a retry makes no duplicate. If some copies were
// committed the reply is 250 and Bounce sends an RFC 3464 failure DSN for the others to the
// envelope sender (none for the null sender, RFC 5321 4.5.5, or NOTIFY without FAILURE,
// RFC 3461 4.1). An infrastructure fault (store, directory, queue) is always 451 4.3.0,
// never permanent; if it strikes after some copies were committed, the 451 may cause a
// duplicate on retry, which RFC 5321 6.1 prefers to a loss.
//
// The package imports only mailgrid's core and foundation packages (directory, store,
// queue, filter, mail, message/body) and the standard library; it knows no driver and no
// protocol library.
package delivery

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Options configure a Pipeline. Directory and Shards are required; Queue may be nil on a
// node that does not relay (then remote recipients are refused).
type Options struct {
	Directory directory.Directory
	Shards    store.Shards
	Queue     queue.Enqueuer
	Hostname  string // names this node in DSNs (Reporting-MTA) and generated Message-IDs
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it for reproducible dates.
	Now func() time.Time
	// Filters are the mailet chains (package filter); nil delivers unfiltered.
	Filters *filter.Chains
	// Quarantine holds what a chain quarantines; nil refuses such copies with 451 4.7.1
	// (a chain that quarantines needs it configured).
	Quarantine filter.QuarantineStore
	// SRS rewrites the envelope sender of redirected copies and of the off-site copies
	// of aliases, and routes bounces to the rewritten addresses back (srs.go,
	// srs_alias.go); nil keeps the original sender.
	SRS *SRS
}

// Pipeline delivers messages. It is safe for concurrent use and holds no per-message state.
type Pipeline struct {
	dir    directory.Directory
	shards store.Shards
	queue  queue.Enqueuer
	host   string
	log    *slog.Logger
	now    func() time.Time
	chains *filter.Chains
	quar   filter.QuarantineStore
	srs    *SRS
}

// New returns a Pipeline.
func New(opt Options) *Pipeline {
	p := &Pipeline{dir: opt.Directory, shards: opt.Shards, queue: opt.Queue, host: opt.Hostname, log: opt.Logger, now: opt.Now,
		chains: opt.Filters, quar: opt.Quarantine, srs: opt.SRS}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.host == "" {
		p.host = "localhost"
	}
	return p
}

// Envelope is one SMTP transaction as the pipeline sees it.
type Envelope struct {
	From       mail.Address       // reverse-path; zero is the null sender <> (RFC 5321 4.5.5)
	Recipients []Recipient        // accepted at RCPT time, in order
	Account    *directory.Account // the authenticated submitter; nil for mail from the Internet
	// Internal marks mail generated by mailgrid itself (DSNs): it may go to remote
	// recipients without an authenticated account.
	Internal bool
	SMTPUTF8 bool   // RFC 6531 SMTPUTF8 was given on MAIL
	EnvID    string // RFC 3461 4.4 ENVID
	Ret      string // RFC 3461 4.3 RET: "FULL", "HDRS" or ""
	Size     int64  // RFC 1870 SIZE= hint; 0 if not given
	Received time.Time
	// ClientIP and HELO describe the SMTP client for the filters (SPF, rspamd); zero
	// for mail that did not come over SMTP.
	ClientIP netip.Addr
	HELO     string
	ID       string // the front-end's id for the message (logs, rspamd Queue-Id)

	hops      int  // redirect generations this envelope is from (redirect.go)
	noFilters bool // a quarantine release: the chains already had their say
}

// Recipient is one accepted forward-path with its DSN parameters (RFC 3461 4.1, 4.2).
type Recipient struct {
	Addr   mail.Address
	Notify []string // "NEVER" or any of "SUCCESS", "FAILURE", "DELAY"; nil = default
	ORcpt  string   // "rfc822;addr" form, "" if not given
}

// Result is the outcome for one recipient of Deliver, in the order of Envelope.Recipients.
type Result struct {
	Rcpt Recipient
	// Err is nil when every copy for this recipient is durably committed.
	Err *Error
	// Committed reports that at least one copy for this recipient was committed (an alias
	// may expand to several targets, and some may fail).
	Committed bool
	QueueID   string // set when remote copies were queued
}

func (p *Pipeline) accountRef(a *directory.Account) store.AccountRef {
	return store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
}

// StaticShards is a fixed placement map, shard name to store: the single-node shape has
// one entry, directory.LocalShard.
type StaticShards map[string]store.Store

var _ store.Shards = StaticShards(nil)

// Shard implements store.Shards.
func (m StaticShards) Shard(name string) (store.Store, error) {
	if st, ok := m[name]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("delivery: unknown shard %q", name)
}
