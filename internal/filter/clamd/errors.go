package clamd

import (
	"errors"
	"strconv"
)

// Error kinds, matched with errors.Is against any error this package returns.
var (
	// ErrUnavailable: clamd could not be reached, or the connection failed or timed out
	// before a reply. Typically transient: retry later or apply the failure policy.
	ErrUnavailable = errors.New("clamd unavailable")
	// ErrScan: clamd answered but did not scan the message.
	ErrScan = errors.New("clamd could not scan")
	// ErrSizeLimit: the message is larger than the scanner accepts. Also an ErrScan.
	ErrSizeLimit = errors.New("size limit exceeded")
)

// Error is a failed call.
type Error struct {
	Kind  error  // ErrUnavailable or ErrScan
	Op    string // the clamd command: INSTREAM, PING, VERSION
	Reply string // clamd's reply, when it sent one
	Err   error  // the cause (ErrSizeLimit, a network error), or nil
}

func (e *Error) Error() string {
	s := "clamd: " + e.Op + ": " + e.Kind.Error()
	if e.Reply != "" {
		s += ": reply " + strconv.Quote(e.Reply)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
