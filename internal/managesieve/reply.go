package managesieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Response codes (RFC 5804 1.3): clients act on them, e.g. retry later on TRYLATER or
// offer STARTTLS on ENCRYPT-NEEDED.
const (
	codeNonexistent   = "NONEXISTENT"      // RFC 5804 1.3: the script does not exist
	codeActive        = "ACTIVE"           // RFC 5804 1.3: not allowed on the active script
	codeAlreadyExists = "ALREADYEXISTS"    // RFC 5804 1.3: RENAMESCRIPT to a taken name
	codeMaxSize       = "QUOTA/MAXSIZE"    // RFC 5804 1.3: the script is over the size limit
	codeMaxScripts    = "QUOTA/MAXSCRIPTS" // RFC 5804 1.3: too many scripts
	codeTryLater      = "TRYLATER"         // RFC 5804 1.3: a temporary server fault
	codeEncryptNeeded = "ENCRYPT-NEEDED"   // RFC 5804 1.3: authenticate over TLS only
)

// Error is a NO reply (BYE when Bye is set, after which the session ends). Handlers
// return it; the session writes it. Bad marks a protocol misuse (unknown command, wrong
// state, syntax) that counts toward the bad-command limit.
type Error struct {
	Code string // RFC 5804 1.3 response code without parentheses, or ""
	Text string
	Bad  bool
	Bye  bool
}

func (e *Error) Error() string { return e.line() }

// line is the reply without CRLF (a long or multi-line text becomes a literal).
func (e *Error) line() string {
	kind := "NO"
	if e.Bye {
		kind = "BYE"
	}
	return response(kind, e.Code, e.Text)
}

// response builds `kind [SP "(" code ")"] [SP string]` (RFC 5804 4 response-oknobye).
func response(kind, code, text string) string {
	var b strings.Builder
	b.WriteString(kind)
	if code != "" {
		b.WriteString(" (" + code + ")")
	}
	if text != "" {
		b.WriteString(" " + encodeString(text))
	}
	return b.String()
}

// encodeString writes s as a quoted string when it can be one (RFC 5804 4: at most 1024
// octets of SAFE-UTF8-CHAR, with DQUOTE and "\" escaped) and as a literal-s2c "{n}"
// CRLF octets otherwise.
func encodeString(s string) string {
	if quotable(s) {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
		return `"` + r.Replace(s) + `"`
	}
	return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
}

func quotable(s string) bool {
	if len(s) > 1024 || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsAny(s, "\x00\r\n")
}

// badCommand is a protocol misuse reply: it counts toward the bad-command limit.
func badCommand(text string) *Error { return &Error{Text: text, Bad: true} }

// Replies used in more than one place.
var (
	errUnknown       = badCommand("Unknown command")
	errNotAuthed     = badCommand("Authenticate first")
	errAuthed        = badCommand("Already authenticated")
	errTemp          = &Error{Code: codeTryLater, Text: "Temporary server failure, try again later"}
	errAuthFailed    = &Error{Text: "Authentication failed"}
	errEncrypt       = &Error{Code: codeEncryptNeeded, Text: "Authentication is only allowed over TLS, use STARTTLS first", Bad: true}
	errDisabled      = &Error{Text: "Account disabled, contact your administrator"}
	errSieveDisabled = &Error{Text: "ManageSieve access is disabled for this account"}
	errNoScript      = &Error{Code: codeNonexistent, Text: "There is no script by that name"}
	errTooManyFails  = &Error{Text: "Too many failed authentication attempts", Bye: true}
)

// Lines the connection layer writes outside any command.
var (
	lineShutdown = response("BYE", codeTryLater, "Server shutting down")
	lineIdle     = response("BYE", "", "Disconnected for inactivity")
	lineTooMany  = response("BYE", codeTryLater, "Too many connections from your address")
	lineTooBad   = response("BYE", "", "Too many bad commands, closing connection")
	lineTooLong  = response("BYE", "", "Line too long")
	lineHuge     = response("BYE", codeMaxSize, "Literal too large")
)
