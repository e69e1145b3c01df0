// Package managesieve is mailgrid's ManageSieve front-end (RFC 5804): the protocol
// Thunderbird's sieve add-on, sieve-connect, Roundcube's managesieve plugin and the like
// use to upload, list, activate and delete an account's Sieve scripts. It serves port 4190
// with STARTTLS (RFC 5804 2.2) and, although no standard asks for it, implicit TLS.
//
// Libraries: no ManageSieve library is available to us, so the protocol is written here;
// the only protocol dependency is github.com/emersion/go-sasl for the PLAIN mechanism
// (RFC 4616), the server the SMTP and POP3 front-ends use too. Script names are
// normalised to NFC with golang.org/x/text/unicode/norm (RFC 5804 1.6, RFC 5198).
// Scripts are validated by mailgrid's own Sieve compiler (internal/filter/sieve) and
// stored through the filter.SieveScripts interface; like every front-end this package
// imports core interfaces only (directory, filter, store), never a driver or another
// front-end.
//
// # Model
//
// A session is in one of two states (RFC 5804 2): not authenticated, where only
// CAPABILITY, STARTTLS, AUTHENTICATE, NOOP and LOGOUT are valid, and authenticated, where
// the script commands work on the logged-in account's scripts (filter.SieveScripts keyed
// by store.AccountRef) and UNAUTHENTICATE (RFC 5804 2.14) goes back. There is no proxy
// authorisation: the SASL authorisation identity must be empty or the login itself.
//
// Scripts: PUTSCRIPT and CHECKSCRIPT compile the script with sieve.Compile under
// Options.Sieve (the same extensions and limits the delivery-time Sieve mailet runs
// with) and a script that does not compile is refused with NO and the line and column of
// the first error; nothing is stored (RFC 5804 2.6). SETACTIVE compiles the stored script
// again, so a script that an administrator's narrower extension list made invalid is not
// activated. Sizes are bounded by Options.MaxScriptSize (NO (QUOTA/MAXSIZE)) and the
// number of scripts by Options.MaxScripts (NO (QUOTA/MAXSCRIPTS)); the count is checked
// before the write, so two concurrent sessions can exceed it by one each. Script names
// follow RFC 5804 1.6: UTF-8 without control characters, U+2028 or U+2029, at least one
// and at most 128 characters after NFC normalisation. Response codes: NONEXISTENT,
// ACTIVE (DELETESCRIPT of the active script), ALREADYEXISTS, QUOTA/MAXSIZE,
// QUOTA/MAXSCRIPTS, TRYLATER for infrastructure faults (directory, script storage),
// ENCRYPT-NEEDED, TAG (NOOP).
//
// # Protocol
//
// Commands are parsed by parse.go: an atom, then strings (quoted, or literals) and
// numbers separated by single spaces (RFC 5804 4). Clients send non-synchronising
// literals "{n+}" (RFC 5804 4, literal-c2s); "{n}" is accepted and read the same way,
// since ManageSieve has no continuation a client could wait for. The bytes of a line
// outside literals are bounded (a longer line ends the session with BYE), literals by
// the command's budget: MaxScriptSize plus a little for PUTSCRIPT and CHECKSCRIPT, a few
// KiB for everything else. A literal over its budget is read and thrown away, up to
// 16 x (MaxScriptSize + 8 KiB), so the session stays in step and answers
// NO (QUOTA/MAXSIZE); a larger one ends the session with BYE. After a syntax error the rest of the command is skipped,
// including a literal announced at the end of a line, so script text is never run as
// commands.
//
// Replies are buffered and flushed whenever the session is about to wait for input, so
// pipelined commands get their replies in one write. Strings in replies are quoted when
// they can be (at most 1024 octets, no CR, LF or NUL, valid UTF-8) and literals "{n}"
// otherwise (RFC 5804 4, literal-s2c): GETSCRIPT always answers with a literal.
//
// # Security
//
// Credentials are accepted only over TLS: before it, the SASL capability is empty, as
// RFC 5804 1.7 allows when STARTTLS is advertised, and AUTHENTICATE answers
// NO (ENCRYPT-NEEDED). A TLS configuration is therefore required. Bytes a client
// pipelines after STARTTLS, before the handshake, are discarded, never run (the
// CVE-2011-0411 class of injection); after the handshake the capabilities are sent again
// (RFC 5804 2.2). Every failed login waits Options.FailedLoginDelay and gives the same
// reply for an unknown user, a wrong password, a malformed PLAIN message and a foreign
// authorisation identity (the directory verifies unknown users against a stand-in hash,
// so the time matches); the third failure ends the session with BYE. A disabled account
// is told so only after the right password. The service switch is checked right after
// a successful authentication with the account's domain read afresh:
// NO unless directory.ServiceAllowed(domain, account, directory.ServiceManageSieve).
//
// Limits: Options.MaxConnsPerIP connections per client address; Options.IdleTimeout of
// inactivity after login (RFC 5804 1.3: at least 30 minutes; less only in tests) and at
// most 3 minutes before it; 10 bad commands end the session.
//
// Shutdown stops accepting, says BYE (TRYLATER) to every session waiting for a command
// and closes it, and lets a session busy with a command finish it.
package managesieve
