// Package queue is mailgrid's outbound queue: messages waiting for delivery to remote
// domains, held durably with per-recipient state, retried with backoff, and bounced with a
// delivery status notification (RFC 3464) when they fail.
//
// This file holds the types front-ends use to put mail into the queue (Enqueuer). The
// rest of the package:
//
//   - driver.go: the Queue driver interface. An item is one message with one row of state
//     per recipient (queued, delivered, failed, expired; attempts, last reply, pending
//     DSN) and scheduling state (first enqueued, next attempt, delay warning sent, lease
//     owner and expiry). Items are leased, not locked: a node that dies loses its items
//     when the lease expires. Drivers live in sub-packages (sqlite) and pass queuetest.
//   - sender.go: the Sender a scheduler delivers through (package smtpclient), and the
//     Submit hook that takes the DSNs.
//   - scheduler.go, attempt.go, limiter.go: the Scheduler. It leases due items, delivers
//     each item's queued recipients grouped by destination domain (one transaction per
//     domain, a per-domain and a global concurrency limit), commits each transaction's
//     outcome as soon as it ends (a crash re-sends at most the recipients in flight),
//     and schedules retries of temporary failures with exponential backoff (5 minutes
//     doubling to 4 hours; after 5 days a recipient expires), like Postfix.
//   - dsn.go: the scheduler's delivery status notifications (RFC 3461 policy: who gets
//     one, for which recipients, RET), spooled to an unlinked temporary file for Submit.
//   - dsnwrite.go: WriteDSN, the one RFC 3464 / RFC 6522 / RFC 6533 composer (standard
//     library mime/multipart), also used by package delivery for its bounces; a returned
//     original is streamed, never held in memory.
package queue

import (
	"context"

	"mailgrid/internal/store"
)

// Envelope is the SMTP envelope of a queued message.
type Envelope struct {
	From     string // reverse-path; "" is the null sender (RFC 5321 4.5.5): never bounced
	EnvID    string // RFC 3461 4.4 ENVID
	Ret      string // RFC 3461 4.3 RET: "FULL", "HDRS" or ""
	SMTPUTF8 bool   // RFC 6531: the message needs SMTPUTF8 at the next hop
	// Sender is the submitting account when the message came from an authenticated user;
	// zero for forwards and DSNs. Used for statistics and per-account limits.
	Sender store.AccountRef
}

// Recipient is one remote recipient.
type Recipient struct {
	Addr   string   // forward-path, ASCII or UTF-8 local part
	Notify []string // RFC 3461 4.1 NOTIFY: "NEVER" or any of "SUCCESS","FAILURE","DELAY"; nil = default (FAILURE,DELAY)
	ORcpt  string   // RFC 3461 4.2 ORCPT, "rfc822;addr" form, "" if not given
}

// Enqueuer accepts messages for remote delivery.
type Enqueuer interface {
	// Enqueue stores the message and its recipients durably and returns the queue ID.
	// When it returns nil the message survives a crash; the body is read before it returns.
	Enqueue(ctx context.Context, env Envelope, rcpts []Recipient, body store.Body) (id string, err error)
}
