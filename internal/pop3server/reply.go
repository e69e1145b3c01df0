package pop3server

import "strings"

// Response codes (RFC 2449 8: "[CODE]" right after "-ERR"; RFC 3206 adds SYS/TEMP,
// SYS/PERM and AUTH). Clients use them to tell a wrong password from a busy maildrop or
// a broken server, and so decide whether to ask the user again or retry later.
const (
	codeInUse      = "IN-USE"      // RFC 2449 8.1.2: the maildrop is locked by another session
	codeLoginDelay = "LOGIN-DELAY" // RFC 2449 8.1.1: logged in too soon after the last login
	codeSysTemp    = "SYS/TEMP"    // RFC 3206 4: a fault that should go away (store, directory)
	codeSysPerm    = "SYS/PERM"    // RFC 3206 4: a permanent fault the user must report
	codeAuth       = "AUTH"        // RFC 3206 5: the credentials are wrong
)

// Error is a negative reply ("-ERR [CODE] text"). Handlers return it; the session writes
// it. Bad marks a protocol misuse (unknown command, wrong state, syntax, failed login)
// that counts toward Options.MaxBadCommands; Close ends the session after the reply.
type Error struct {
	Code  string // RFC 2449 response code without brackets, or ""
	Text  string
	Bad   bool
	Close bool
}

func (e *Error) Error() string { return e.line() }

// line is the reply line without CRLF.
func (e *Error) line() string {
	var b strings.Builder
	b.WriteString("-ERR ")
	if e.Code != "" {
		b.WriteString("[" + e.Code + "] ")
	}
	b.WriteString(e.Text)
	return b.String()
}

// badCommand is a protocol misuse reply: it counts toward the bad-command limit.
func badCommand(text string) *Error { return &Error{Text: text, Bad: true} }

// Replies used in more than one place.
var (
	errUnknown      = badCommand("Unknown command")
	errWrongState   = badCommand("Command not valid in this state")
	errSyntax       = badCommand("Syntax error in arguments")
	errMsgNumber    = badCommand("Invalid message number")
	errDeleted      = &Error{Text: "Message already deleted"}
	errTemp         = &Error{Code: codeSysTemp, Text: "Temporary server failure, try again later"}
	errAuthFailed   = &Error{Code: codeAuth, Text: "Authentication failed", Bad: true}
	errPlaintext    = &Error{Code: codeAuth, Text: "Plaintext authentication disallowed on non-secure connections, use STLS first", Bad: true}
	errInUse        = &Error{Code: codeInUse, Text: "Maildrop is locked by another POP3 session"}
	errLoginDelay   = &Error{Code: codeLoginDelay, Text: "Minimum time between logins not reached"}
	errDisabled     = &Error{Code: codeSysPerm, Text: "Account disabled, contact your administrator"}
	errPOP3Disabled = &Error{Code: codeSysPerm, Text: "POP3 access is disabled for this account"}
	errInvalidChars = &Error{Text: "Invalid characters in command", Bad: true}
	errTooLong      = &Error{Text: "Line too long", Bad: true, Close: true}
)

// Lines the connection layer writes outside any command.
const (
	lineShutdown = "-ERR [" + codeSysTemp + "] Server shutting down"
	lineIdle     = "-ERR Disconnected for inactivity"
	lineTooMany  = "-ERR [" + codeSysTemp + "] Too many connections from your address"
	lineTooBad   = "-ERR Too many bad commands, closing connection"
)
