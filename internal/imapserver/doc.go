// Package imapserver is mailgrid's IMAP front-end: IMAP4rev2 (RFC 9051) and IMAP4rev1
// (RFC 3501) on port 143 with STARTTLS and 993 with implicit TLS (RFC 8314), over the
// store, directory and bus interfaces only (never a driver or database/sql).
//
// Why our own protocol layer: emersion/go-imap v2's server lacks CONDSTORE/QRESYNC,
// QUOTA, ID, SORT/THREAD and COMPRESS and keeps its wire codec internal, so none of them
// could be added from outside. Only go-imap v2's imapclient is used, as a test client.
// Libraries: the standard library (crypto/tls, compress/flate, mime, mime/quotedprintable)
// and github.com/emersion/go-message/charset for legacy charsets in SEARCH. COMPRESS
// decodes the client's stream with our own inflater (inflate.go): compress/flate's reader
// holds data back after a zlib Z_PARTIAL_FLUSH, which mbsync uses, and would hang it.
//
// Layout (one file per concern, one per command group, as go-imap's and mox's servers):
//
//   - server.go: Options, New, Serve, Shutdown, the per-IP connection limit.
//   - session.go, command.go: one goroutine per connection reads a command, dispatches it
//     to its handler (lookup) and writes the tagged reply; handlers return nil or a
//     *respError (errors.go) carrying NO/BAD and the RFC 5530 response code. Twenty BAD
//     replies in a row end the session with BYE (maxBadRun).
//   - parser.go, seqset.go, mutf7.go, writer.go: the wire format. The parser is streaming:
//     it holds one line, pulls continuation lines after literals, and lets APPEND stream
//     its literal to a spool. Line length, literal size (a synchronizing literal over the
//     limit gets NO [TOOBIG] without "+"; a non-synchronizing one BAD and close), number
//     of literals and per-command memory are bounded. Mailbox names are modified UTF-7
//     (strictly validated) unless the client enabled IMAP4rev2 or UTF8=ACCEPT, and are
//     then checked by store.NormalizeMailboxName, so no name escapes the account.
//   - view.go: the selected mailbox. A session subscribes to its account's bus
//     (bus.SubscribeGrowing: a channel of one change, a burst queued on demand up to
//     1,024) before it reads the mailbox, keeps its own sequence-number to UID
//     map and collects other sessions' changes; they reach the client after each command
//     and during IDLE (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS with MODSEQ), never an
//     EXPUNGE during FETCH, STORE or SEARCH by sequence number (RFC 9051 7.5.1). Our
//     own flag changes echoed by the bus are recognised by modseq and not repeated. A bus
//     overflow resynchronises from the store (UIDs present, messages changed since the
//     highest modseq seen). FLAGS and PERMANENTFLAGS list the keywords in use (keywords.go)
//     and are sent again when a new keyword appears in the mailbox.
//   - boxcache.go: the server's shared cache of selected mailboxes (UIDs and flags), kept
//     current from the bus (bus.Observe) and used only when exact at the HIGHESTMODSEQ the
//     store reports at that moment, so it can never show a state the store did not hold.
//     SELECT reads no message row on a hit; SEARCH with flag keys reads only the rows its
//     flags do not rule out, and none when the flags decide it (search_flags.go).
//   - IDLE (cmd_idle.go, idle_wake.go): the session's 4 KiB command reader goes back to a
//     server pool and DONE is read through a 16-byte one; the response buffer shrinks to
//     512 bytes. The session's own goroutine reads DONE; a published change wakes that
//     read through the read deadline (bus.Subscription.SetNotify), so an idling
//     connection holds one goroutine (two under COMPRESS, whose inflater cannot resume).
//   - cmd_*.go, fetch_*.go, search_*.go: the commands. FETCH streams bodies from
//     store.OpenBlob through the part offsets of the message.Info cached at delivery
//     (store.Message.Meta): BODY[1.2], BODY[2.HEADER], BODY[1.MIME] are io.SectionReaders
//     over the blob, never a re-parse; ENVELOPE and BODYSTRUCTURE come from the same Info.
//     Messages are read from the store in batches so no query is open while a slow client
//     reads. What needs no envelope or structure (SELECT and EXAMINE, a resync, EXPUNGE,
//     STORE, STATUS DELETED, a FETCH of flags or sizes, a SEARCH of flags, dates and
//     sizes) asks the store not to read Meta (store.Query.NoMeta): a SELECT of 2,000
//     messages allocates 1.5 MB instead of 5.1 MB and takes about 2.4x less time.
//   - SEARCH (search_*.go): BODY and TEXT are answered by the store's text index when
//     the store implements store.TextSearcher (search_index.go: one exact lookup per key,
//     then only the candidate rows, or none, are read) and by a scan of the bodies
//     otherwise, over the same text (store.ExtractText: decoded text parts, HTML
//     stripped, the unfolded decoded header), so both answer alike. FROM, TO, CC, BCC and
//     SUBJECT are answered from the store's header text when it implements
//     store.HeaderSearcher (one SearchHeader per key over the candidates' UID range, the
//     same substring semantics), so "FROM x UNSEEN" with the mailbox cache reads no row;
//     otherwise they read the few fields they need from the raw Meta (metajson.go)
//     without decoding the body structure. Flag, size and date keys run first (AND is
//     commutative).
//   - Corners: RENAME INBOX moves INBOX's messages to the new mailbox in batches of
//     atomic moves and leaves INBOX and its inferiors (RFC 9051 6.3.6); LSUB "%" lists
//     an unsubscribed parent of a subscribed mailbox as \Noselect (RFC 3501 6.3.9);
//     BINARY of a part with an unknown Content-Transfer-Encoding is NO [UNKNOWN-CTE]
//     (RFC 3516 4.3); INTERNALDATE keeps the zone of APPEND's date-time.
//
// UIDs are the store's (never reused) and UIDVALIDITY the mailbox's. Infrastructure
// faults answer NO [UNAVAILABLE]; quota NO [OVERQUOTA]; missing mailboxes NO
// [NONEXISTENT] (or [TRYCREATE] for APPEND, COPY and MOVE). Logins are accepted only over
// TLS; a failed login costs a growing delay and several end the connection; unknown users
// and wrong passwords get the same reply. After the right password the IMAP service
// switch applies (directory.ServiceAllowed with the account's domain read at each login):
// NO [CONTACTADMIN] when the domain or the account disables IMAP, without a delay;
// sessions already logged in are not cut off.
package imapserver
