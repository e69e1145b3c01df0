// Package sieve is mailgrid's Sieve interpreter (RFC 5228) with the extensions users'
// filters need: fileinto, envelope, reject and ereject (RFC 5429), vacation (RFC 5230),
// imap4flags (RFC 5232), subaddress (RFC 5233), body (RFC 5173), copy (RFC 3894),
// variables (RFC 5229), relational (RFC 5231), date (RFC 5260), encoded-character, the
// i;octet, i;ascii-casemap and i;ascii-numeric comparators and :regex. It runs one
// engine for everything: scripts users upload over ManageSieve and the simple settings
// of the webmail, which Generate compiles to Sieve text.
//
// Model. A script goes through three stages, as in Dovecot's Pigeonhole:
//
//	lexer.go, parser.go   text -> syntax tree (RFC 5228 8 grammar), with line:column
//	                      positions and structural limits (size, nesting, node count)
//	compile.go, args.go   tree -> executable tree: arguments and tags checked per
//	and one file per      command, "require" checked against the enabled extensions,
//	extension             constants validated (addresses, mailbox names, regexps)
//	interp.go             Run: executes against a Message, returns []Action
//
// Compile returns an immutable *Script, safe for concurrent Run calls; callers cache it
// next to the script text. Run never performs an action: it returns what the delivery
// agent must do (keep, fileinto with flags, redirect, reject, discard, vacation reply),
// with the implicit keep of RFC 5228 2.10.2 made explicit. A runtime error (a limit,
// conflicting actions) returns only the implicit keep (RFC 5228 2.10.6).
//
// Message is the interface a run reads: envelope, decoded headers, size, and for the
// body test the raw body and the MIME parts. NewMessage implements it over a stored
// message using internal/message's parsed MIME tree, reading bodies on demand.
//
// Safety. Sieve has no loops, so a run executes each command at most once; what can
// still blow up is data: strings are capped (Limits.MaxStringBytes), matching is
// charged against a work budget (Limits.MaxMatchWork), body reads are capped
// (Limits.MaxBodyBytes), and actions and redirects are counted. :matches runs in
// O(len(value) * len(pattern)) with no backtracking, and :regex uses Go's RE2, which is
// linear in the input.
//
// Libraries: the standard library (regexp for :regex, net/mail for vacation :from and
// dates, mime and mime/quotedprintable for decoding), github.com/emersion/go-message's
// charset package for legacy charsets in headers and body parts, and mailgrid's
// internal/mail and internal/message. No Go Sieve library is available to us, so the
// interpreter is our own.
package sieve
