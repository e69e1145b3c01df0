package imapserver

import (
	"errors"
	"fmt"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// respError is a command's failure as the protocol says it: the tagged status (NO or BAD),
// an optional response code (RFC 5530, RFC 9051 7.1) and the human text. A respError with
// close set ends the connection after the reply (* BYE), as for a non-synchronizing
// literal over the limit, which cannot be skipped safely.
type respError struct {
	status string // "NO" or "BAD"
	code   string // without brackets: "TOOBIG", "NONEXISTENT", "BADCHARSET (UTF-8)"...
	text   string
	close  bool
	// noCont marks a refused synchronizing literal: the client waits for "+" that never
	// comes, so the rest of the command must not be skipped (RFC 9051 7.5).
	noCont bool
	err    error // the cause, for logs; never shown to the client
}

func (e *respError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s [%s] %s: %v", e.status, e.code, e.text, e.err)
	}
	return fmt.Sprintf("%s [%s] %s", e.status, e.code, e.text)
}

func (e *respError) Unwrap() error { return e.err }

// bad is a syntax or state error (RFC 9051 7.1.3).
func bad(format string, args ...any) *respError {
	return &respError{status: "BAD", text: fmt.Sprintf(format, args...)}
}

// badCode is a BAD with a response code.
func badCode(code, format string, args ...any) *respError {
	return &respError{status: "BAD", code: code, text: fmt.Sprintf(format, args...)}
}

// no is an operational failure (RFC 9051 7.1.2).
func no(code, format string, args ...any) *respError {
	return &respError{status: "NO", code: code, text: fmt.Sprintf(format, args...)}
}

// Response codes (RFC 9051 7.1, RFC 5530).
const (
	codeUnavailable   = "UNAVAILABLE"
	codeNonexistent   = "NONEXISTENT"
	codeAlreadyExists = "ALREADYEXISTS"
	codeOverQuota     = "OVERQUOTA"
	codeTooBig        = "TOOBIG"
	codeTryCreate     = "TRYCREATE"
	codeCannot        = "CANNOT"
	codeAuthFailed    = "AUTHENTICATIONFAILED"
	codeContactAdmin  = "CONTACTADMIN"
	codePrivacy       = "PRIVACYREQUIRED"
	codeClientBug     = "CLIENTBUG"
	codeLimit         = "LIMIT"
	codeExpunged      = "EXPUNGEISSUED"
)

// storeError maps a store or directory error to the reply a client can act on. Anything
// not recognised is an infrastructure fault: NO [UNAVAILABLE] (RFC 5530 3), logged by the
// caller through err.
func storeError(err error, what string) *respError {
	var re *respError
	if errors.As(err, &re) {
		return re
	}
	var e *respError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, directory.ErrNotFound):
		e = no(codeNonexistent, "%s: no such mailbox", what)
	case errors.Is(err, store.ErrExists):
		e = no(codeAlreadyExists, "%s: mailbox already exists", what)
	case errors.Is(err, store.ErrOverQuota):
		e = no(codeOverQuota, "%s: over quota", what)
	case errors.Is(err, store.ErrProtected):
		e = no(codeCannot, "%s: not allowed on this mailbox", what)
	case errors.Is(err, store.ErrHasChildren):
		e = no(codeCannot, "%s: mailbox has children", what)
	case errors.Is(err, store.ErrInvalid):
		e = no(codeCannot, "%s: invalid value", what)
	default:
		e = no(codeUnavailable, "%s: temporary failure, try again later", what)
	}
	e.err = err
	return e
}
