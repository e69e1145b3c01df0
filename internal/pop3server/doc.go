// Package pop3server is mailgrid's POP3 front-end (RFC 1939) with the extensions clients
// rely on: CAPA, RESP-CODES, AUTH-RESP-CODE, PIPELINING, UIDL, TOP, USER, SASL and
// LOGIN-DELAY (RFC 2449), STLS (RFC 2595), AUTH with an initial response (RFC 5034) and
// the SYS/TEMP, SYS/PERM and AUTH response codes (RFC 3206). It serves port 110 with STLS
// and port 995 with implicit TLS (RFC 8314 3.3).
//
// Libraries: no POP3 library is served by the module proxy, so the protocol is written
// here; the only protocol dependency is github.com/emersion/go-sasl for the PLAIN
// mechanism (RFC 4616), the same server the SMTP front-end uses. It imports core
// interfaces only (directory, store), never a database driver or another front-end.
//
// # Model
//
// The maildrop is the account's INBOX in its store shard (directory.Account.Shard through
// store.Shards). At login the session snapshots INBOX: message numbers, sizes and store
// ids of the messages present then (maildrop.go). Messages delivered later are not in the
// session (RFC 1939 3: the maildrop is fixed for the session); numbers never shift.
// UIDL ids are UIDVALIDITY and UID of INBOX in hex, so they are stable across sessions and
// name the same message IMAP sees.
//
// DELE only marks. Messages are removed in the UPDATE state, after QUIT, with one
// store.Expunge call (IMAP sessions see ordinary expunges through the change bus);
// messages retrieved whole by RETR and not deleted get \Seen then, as Dovecot does. A
// session that ends any other way (dropped connection, idle timeout, shutdown, too many
// bad commands) deletes nothing. A message another session expunged meanwhile answers
// RETR with "-ERR" and is skipped by UPDATE.
//
// One POP3 session per maildrop (RFC 1939 8): a second login while a session holds the
// account gets "-ERR [IN-USE]" (RFC 2449 8.1.2), on any node. The session takes an
// in-process lock keyed by the account and, when the account's store implements
// store.MaildropLocker (the PostgreSQL shard: an advisory lock in the shard database),
// the store's cluster-wide lock named "pop3"; a store that does not (the single-node
// SQLite shard) has no other node to exclude. A fault taking the lock is
// "-ERR [SYS/TEMP]". Both are released after UPDATE or when the session ends.
//
// # Connection
//
// One goroutine per connection (session.go) reads a command, runs its handler (one small
// handler per command: commands.go, auth.go, retr.go) and writes the reply. Replies are
// buffered and flushed when no further pipelined command is waiting (RFC 2449 6.6).
// RETR and TOP stream the body from store.OpenBlob through a dot-stuffing writer
// (dotWriter: RFC 1939 3 byte-stuffing, bare LF sent as CRLF, TOP counts body lines after
// the first empty line), never holding a message in memory. LIST sizes are the stored
// sizes, which are exact for the CRLF messages SMTP delivers.
//
// Credentials (USER/PASS, AUTH PLAIN) are accepted only over TLS unless
// Options.AllowInsecureAuth is set, mirroring Dovecot's disable_plaintext_auth: before
// TLS they are not advertised in CAPA and answer "-ERR [AUTH]". Every failed login waits
// Options.AuthFailDelay and gives the same reply for an unknown user and a wrong password
// (the directory verifies unknown users against a stand-in hash, so the time matches).
// Infrastructure faults (directory, store) are "-ERR [SYS/TEMP]"; a disabled account is
// "-ERR [SYS/PERM]", said only after the right password. So is the POP3 service switch:
// after a successful authentication the session reads the account's domain from the
// directory and refuses the login with "-ERR [SYS/PERM] POP3 access is disabled" unless
// directory.ServiceAllowed(domain, account, directory.ServicePOP3) (the domain or the
// account may switch POP3 off). A switch binds the next login; a session already in
// TRANSACTION keeps its maildrop until QUIT.
//
// Bytes a client pipelines after STLS, before the TLS handshake, are discarded, never run
// (RFC 2595 4, the CVE-2011-0411 class of injection); with implicit TLS nothing is read
// before the handshake. Limits: command lines of Options.MaxLineLength octets (RFC 2449 4
// says 255; we accept up to 1000 by default, longer ends the session), SASL responses of
// 4096, control characters refused, MaxBadCommands bad commands or failed logins before
// the session is closed, MaxConnsPerIP, and the RFC 1939 3 autologout (IdleTimeout, at
// least 10 minutes), after which the session closes without UPDATE.
//
// A session whose account moved to another shard (a user move, package cluster), was
// deleted or was disabled ends at once, without UPDATE: "-ERR [SYS/TEMP]" for a move, a
// plain "-ERR" saying why otherwise, then the close (ended.go; Options.Bus).
//
// Shutdown stops accepting, says "-ERR [SYS/TEMP] Server shutting down" to every session
// waiting for a command and closes it (no UPDATE), and lets a session busy with a command
// finish it, so a QUIT in UPDATE completes its expunge.
package pop3server
