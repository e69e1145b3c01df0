// Package schedule keeps the webmail's scheduled sends ("Send later") and sends them
// when they fall due, on every node.
//
// Model:
//   - An Item is one composed message waiting for its time: the owner (domain and
//     account: every Store call names them, so another account's item IDs are "not
//     found"), the due time, the envelope (From, recipients), the RFC 5322 message as it
//     will be submitted (Message, without a Bcc field; Bcc keeps that field's text so
//     "edit" can reopen the message as a draft), and what the list shows.
//   - Add is durable when it returns nil (SQLite synchronous=FULL; PostgreSQL
//     synchronous_commit=on): a node restart loses nothing.
//   - Sending is leased. Runner.Run, on every node, polls Store.Lease, which claims due
//     items for LeaseFor under a random token (PostgreSQL: FOR NO KEY UPDATE SKIP
//     LOCKED, so nodes never claim the same row together). The Runner sends each through
//     its Sender (the webmail's submission path, the same as "send now") within a
//     deadline shorter than the lease, then Done deletes the item; Retry puts it back
//     with a later due time (temporary failure); Fail keeps it as failed with the reason
//     (permanent failure). Done, Retry and Fail only act while the token still holds the
//     lease (ErrLeaseLost otherwise).
//   - A node killed mid-send never calls Done: its lease runs out and another node (or
//     the restarted one) leases and sends the item again. Without such a crash an item
//     is sent at most once: a lease is exclusive until it expires, a send is started only
//     while at least SendTimeout of the lease is left (a later turn in a batch is handed
//     back), and it finishes (or gives up) within SendTimeout. A crash between the submission's commit and Done sends
//     the message twice; that window is the cost of never losing one.
//   - DeleteOwner and DeleteDomain remove an account's or a domain's items whatever their
//     state, for account deletion and the domain purge.
//   - Cancel removes an item that is not leased (pending, failed, or with an expired
//     lease) and returns it; an item being sent right now is ErrBusy. Cancel and Lease
//     exclude each other (one row lock, or SQLite's one writer), so after a successful
//     Cancel the item is never sent.
//
// Drivers: schedule/sqlite (embedded, DATA/schedule/schedule.db) and schedule/postgres
// (a cluster: schema "schedule" in the directory database); both pass
// schedule/scheduletest, and both run the statements of schedule/sqlstore (written once
// over internal/sqlkit), keeping only the schema and Lease's locking to themselves.
package schedule

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of the Store.
var (
	ErrNotFound  = errors.New("schedule: no such scheduled message")
	ErrBusy      = errors.New("schedule: the message is being sent right now")
	ErrLeaseLost = errors.New("schedule: the lease was lost")
)

// State is an item's state.
type State int

const (
	// Pending items wait for their time (or a retry).
	Pending State = 0
	// Failed items were refused permanently; they stay, with LastError, until the user
	// cancels or edits them.
	Failed State = 1
)

// Owner names an account: its domain (the tenant) and account ID.
type Owner struct {
	Domain  string
	Account int64
}

// Item is one scheduled message.
type Item struct {
	ID    int64
	Owner Owner
	Due   time.Time // when it is (next) sent
	State State

	From    string   // the envelope sender, an identity of the account
	Rcpts   []string // envelope recipients (To, Cc and Bcc)
	Subject string   // shown in the list
	To      string   // the To field as typed, shown in the list
	Bcc     string   // the Bcc field, not in Message; restored when edited as a draft
	Answer  string   // "MB/UID" of the message replied to, flagged \Answered once sent
	Client  string   // the composing client's address, for the Received field
	Proto   string   // "HTTP" or "HTTPS", for the Received field
	Message []byte   // the RFC 5322 message; List leaves it nil

	Created   time.Time
	Attempts  int
	LastError string

	// Token is the lease held on an item returned by Lease.
	Token string
}

// Store keeps scheduled items. Implementations are safe for concurrent use; the
// PostgreSQL one by any number of nodes.
type Store interface {
	// Add stores a pending item (ID, State, Attempts, LastError and Token are ignored)
	// and returns its ID. Durable on return.
	Add(ctx context.Context, it Item) (int64, error)
	// List returns the owner's items (without Message), soonest first.
	List(ctx context.Context, o Owner) ([]Item, error)
	// Get returns one of the owner's items with its Message; ErrNotFound.
	Get(ctx context.Context, o Owner, id int64) (Item, error)
	// Cancel deletes one of the owner's items unless it is leased at now, and returns
	// it with its Message; ErrNotFound, ErrBusy.
	Cancel(ctx context.Context, o Owner, id int64, now time.Time) (Item, error)
	// Lease claims up to max pending items due at now whose lease (if any) has run out,
	// soonest first, until now+d, counting an attempt for each. Their Token names the
	// lease.
	Lease(ctx context.Context, now time.Time, d time.Duration, max int) ([]Item, error)
	// Done deletes a leased item (sent); ErrLeaseLost.
	Done(ctx context.Context, id int64, token string) error
	// Retry ends the lease and makes the item due again at due, with the reason;
	// ErrLeaseLost.
	Retry(ctx context.Context, id int64, token string, due time.Time, reason string) error
	// Fail ends the lease and marks the item Failed with the reason; ErrLeaseLost.
	Fail(ctx context.Context, id int64, token string, reason string) error
	// DeleteOwner removes every item of o, leased ones included, and returns how many
	// (account deletion). A leased item's Done, Retry or Fail then answers ErrLeaseLost;
	// the send itself is stopped before it starts by the Sender, which refuses an owner
	// the directory no longer has (the account's directory row goes first).
	DeleteOwner(ctx context.Context, o Owner) (int, error)
	// DeleteDomain removes every item of every owner of domain, as DeleteOwner (domain
	// purge); "" is an error.
	DeleteDomain(ctx context.Context, domain string) (int, error)
	// Close releases the store.
	Close() error
}

// Limits of an item, checked by Validate.
const (
	MaxRcpts        = 1000
	MaxMessageBytes = 64 << 20
	maxField        = 4000
)

// Validate checks an item before Add: an owner, a due time, a sender, at least one
// recipient, a message, one-line short fields.
func Validate(it Item) error {
	switch {
	case it.Owner.Domain == "" || it.Owner.Account <= 0:
		return errors.New("schedule: item without owner")
	case it.Due.IsZero():
		return errors.New("schedule: item without due time")
	case it.From == "":
		return errors.New("schedule: item without sender")
	case len(it.Rcpts) == 0 || len(it.Rcpts) > MaxRcpts:
		return errors.New("schedule: item needs 1 to 1000 recipients")
	case len(it.Message) == 0 || len(it.Message) > MaxMessageBytes:
		return errors.New("schedule: item message empty or too large")
	}
	for _, f := range append([]string{it.From, it.Subject, it.To, it.Bcc, it.Answer, it.Client, it.Proto}, it.Rcpts...) {
		if len(f) > maxField || strings.ContainsAny(f, "\r\n\x00") {
			return errors.New("schedule: item field too long or not one line")
		}
	}
	return nil
}

// Permanent marks a send error no retry can fix: the Runner fails the item.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// meta is how the drivers store an item's envelope and display fields: one JSON text.
type meta struct {
	From    string   `json:"from"`
	Rcpts   []string `json:"rcpts"`
	Subject string   `json:"subject,omitempty"`
	To      string   `json:"to,omitempty"`
	Bcc     string   `json:"bcc,omitempty"`
	Answer  string   `json:"answer,omitempty"`
	Client  string   `json:"client,omitempty"`
	Proto   string   `json:"proto,omitempty"`
}

// EncodeMeta is the stored text of it's envelope and display fields (for drivers).
func EncodeMeta(it Item) (string, error) {
	b, err := json.Marshal(meta{From: it.From, Rcpts: it.Rcpts, Subject: it.Subject, To: it.To,
		Bcc: it.Bcc, Answer: it.Answer, Client: it.Client, Proto: it.Proto})
	return string(b), err
}

// DecodeMeta sets it's envelope and display fields from EncodeMeta's text (for drivers).
func DecodeMeta(s string, it *Item) error {
	var m meta
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return fmt.Errorf("schedule: stored item fields: %w", err)
	}
	it.From, it.Rcpts, it.Subject, it.To, it.Bcc = m.From, m.Rcpts, m.Subject, m.To, m.Bcc
	it.Answer, it.Client, it.Proto = m.Answer, m.Client, m.Proto
	return nil
}

// NewToken is a random lease token (for drivers).
func NewToken() string {
	return rand.Text()
}

// CheckDelete validates DeleteOwner's owner (domain "" and account 0 for DeleteDomain's
// domain) for drivers.
func CheckDelete(domain string, account int64, whole bool) error {
	if domain == "" || (!whole && account <= 0) {
		return fmt.Errorf("schedule: delete: want a domain and an account (%q #%d)", domain, account)
	}
	return nil
}
