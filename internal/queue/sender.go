package queue

import (
	"context"
	"fmt"
	"io"
	"strings"

	"mailgrid/internal/store"
)

// Sender delivers one message to the recipients of one destination domain in one
// transaction (package smtpclient implements it over SMTP).
type Sender interface {
	// Deliver sends body to rcpts, who all share domain. It returns one result per
	// recipient, in the order of rcpts, when the transaction reached the recipients
	// (RCPT and DATA replies; a DATA failure applies to every accepted recipient).
	// When no recipient could be tried (DNS, no host reachable, MAIL FROM refused) it
	// returns a nil slice and an error; a *DeliveryError says whether that is temporary
	// and carries the reply, any other error counts as temporary.
	// The body is read through its io.ReaderAt; concurrent Deliver calls may share it.
	Deliver(ctx context.Context, domain string, env Envelope, rcpts []Recipient, body store.Body) ([]RecipientResult, error)
}

// RecipientResult is one recipient's outcome of a Sender transaction.
type RecipientResult struct {
	Reply     Reply
	Temporary bool   // a failure worth retrying (4xx, network); ignored when Delivered
	RemoteMTA string // host name of the server that answered
	// NextHopDSN reports that the next hop took the DSN parameters (RFC 3461 ENVID,
	// NOTIFY, ORCPT): success and delay notifications are then its business, not ours
	// (RFC 3461 5.2.2).
	NextHopDSN bool
}

// Delivered reports whether the next hop accepted responsibility (2xx after DATA).
func (r RecipientResult) Delivered() bool { return r.Reply.Code >= 200 && r.Reply.Code < 300 }

// DeliveryError is a failure that applies to every recipient of a transaction. It
// carries the SMTP reply (or its RFC 3463 equivalent) and whether to retry.
type DeliveryError struct {
	Reply     Reply
	Temporary bool
	RemoteMTA string
	Err       error // underlying cause, if any
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	if e.RemoteMTA != "" {
		fmt.Fprintf(&b, "%s: ", e.RemoteMTA)
	}
	b.WriteString(e.Reply.String())
	if e.Err != nil && !strings.Contains(e.Reply.Text, e.Err.Error()) {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// String formats the reply as it appeared on the wire ("550 5.1.1 text"), or just the
// enhanced code and text when no reply was received.
func (r Reply) String() string {
	var parts []string
	if r.Code != 0 {
		parts = append(parts, fmt.Sprintf("%03d", r.Code))
	}
	if r.Enhanced != "" {
		parts = append(parts, r.Enhanced)
	}
	if r.Text != "" {
		parts = append(parts, strings.ReplaceAll(r.Text, "\n", " "))
	}
	return strings.Join(parts, " ")
}

// Submit hands a message the queue generated (a DSN) to the application, which routes it
// to a local mailbox or back into the queue. env.From is always "" (RFC 5321 4.5.5: DSNs
// use the null reverse-path). The body is rereadable and valid until Submit returns.
type Submit func(ctx context.Context, env Envelope, rcpt string, body store.Body) error

// bodyReader returns a reader over the whole body.
func bodyReader(b store.Body) io.Reader { return io.NewSectionReader(b, 0, b.Size()) }
