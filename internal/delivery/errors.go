package delivery

import (
	"errors"
	"fmt"
)

// Error is a delivery outcome that carries its SMTP status: the reply code (RFC 5321 4.2),
// the enhanced status code (RFC 3463) and a human-readable text. Front-ends map it 1:1 to
// their protocol reply; Temporary tells whether the sender should retry (4xx) or give up (5xx).
type Error struct {
	Code      int    // 3-digit SMTP reply code, 4xx or 5xx
	Enhanced  [3]int // RFC 3463 class.subject.detail
	Message   string // reply text, without codes
	Temporary bool   // 4xx: try again later
	Err       error  // underlying cause, for logs; never sent to the client
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func newError(code int, enh [3]int, msg string, cause error) *Error {
	return &Error{Code: code, Enhanced: enh, Message: msg, Temporary: code/100 == 4, Err: cause}
}

// Errors the pipeline returns. Each names its RFC 3463 code; callers compare with errors.As
// and read the fields, or with Is* helpers. Messages are fixed so nothing internal leaks.

// ErrRelayDenied: RFC 5321 3.6.2, a non-local recipient from an unauthenticated client.
func errRelayDenied() *Error {
	return newError(554, [3]int{5, 7, 1}, "relay access denied", nil)
}

// errUnknownUser: RFC 3463 5.1.1 bad destination mailbox address.
func errUnknownUser() *Error {
	return newError(550, [3]int{5, 1, 1}, "no such user here", nil)
}

// errDisabled: RFC 3463 5.2.1 mailbox disabled, not accepting messages.
func errDisabled() *Error {
	return newError(550, [3]int{5, 2, 1}, "mailbox disabled, not accepting messages", nil)
}

// errMailboxFull: RFC 3463 4.2.2 mailbox full (temporary: it may drain); reply 452
// (RFC 5321 4.5.3.1.10 lets a server defer with 452 when storage is short).
func errMailboxFull() *Error {
	return newError(452, [3]int{4, 2, 2}, "mailbox full, try again later", nil)
}

// errQuotaTooSmall: RFC 3463 5.2.2; the message alone is larger than the whole quota, so
// retrying cannot help (RFC 5321 4.5.3.1.10: 552).
func errQuotaTooSmall() *Error {
	return newError(552, [3]int{5, 2, 2}, "message larger than the recipient's quota", nil)
}

// errTooBig: RFC 3463 5.3.4 message too big for system (RFC 1870 6.1: 552).
func errTooBig() *Error {
	return newError(552, [3]int{5, 3, 4}, "message size exceeds the domain limit", nil)
}

// errSendAs: RFC 3463 5.7.1 delivery not authorised; the authenticated user may not use
// that sender address.
func errSendAs() *Error {
	return newError(550, [3]int{5, 7, 1}, "sender address not owned by the authenticated user", nil)
}

// Temporary returns the reply for an infrastructure fault (store, directory, queue): always
// 451 4.3.0, never a permanent failure, so the sender retries (RFC 5321 4.2.5).
func Temporary(cause error) *Error {
	return newError(451, [3]int{4, 3, 0}, "temporary local problem, try again later", cause)
}

// AsError returns err as an *Error; any other error is an infrastructure fault (Temporary).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Temporary(err)
}
