// Package filter is mailgrid's mail processing API: the mailets every message passes
// between "envelope accepted" and "durably committed", and the chains that order them.
//
// Model (after Apache James, whose Matcher/Mailet pair the names come from):
//
//   - A Mail is one message in flight at one Stage: its SMTP Envelope, the Recipients
//     this run concerns, and the Message, a header-edit view over the spooled body.
//   - A Mailet inspects or changes the Mail. It edits the header (Message.AddHeader,
//     RemoveHeader: a prefix and a strip list over the body, never a copy of it) and
//     decides, per Recipient, its Fate: deliver (the implicit keep, FileInto another
//     mailbox, Redirect), Quarantine, Reject (5xx), Defer (4xx) or Drop. Reject, Defer,
//     Drop and Quarantine are final: later mailets no longer see that recipient.
//   - A Matcher decides which recipients a mailet applies to (RecipientDomain,
//     SenderAuthenticated, ...). A Rule is a Matcher, a Mailet, a Timeout and the
//     failure Policy applied when the mailet returns an error: FailOpen accepts and
//     tags the message (X-Mailgrid-Filter-Failed), FailClosed defers its recipients with
//     451 4.7.1 (Postfix's milter_default_action=tempfail; the zero Policy).
//   - Chains holds the ordered rules of each Stage, globally and per domain. Run executes
//     the global rules, then the rules of each recipient domain on that domain's
//     recipients (system rules before domain rules; user rules, Sieve, run at the local
//     stage after both).
//
// Stages, in the order a message meets them (package delivery runs them):
//
//	StageConnect the client's address and EHLO name, no message, global rules only;
//	             a refusal is given at MAIL (smtpserver), as Postfix's delay_reject
//	StageMail    MAIL FROM: the sender; the sender domain's rules run; the fate of
//	             the one placeholder recipient is the reply to MAIL
//	StageRcpt    each RCPT TO: that recipient; its domain's rules run; reject = 5xx,
//	             defer = 4xx to that RCPT (block lists answer here, in the session)
//	StageData    the whole message after DATA, before routing; a reject here is the
//	             SMTP reply to DATA, a defer 451 (auth checks, virus, rspamd)
//	StageLocal   once per local account that gets a copy, before store.Deliver
//	             (the account's spam level and Bayes classifier, its Sieve script)
//	StageRemote  once for all remote recipients, before queue.Enqueue (outbound
//	             policies)
//
// The envelope stages (Stage.Envelope) have no Message: only a mailet that names them
// in Stager.Stages may run there, and a fail-open failure there just accepts (there is
// nothing to tag).
//
// A mailet is the small interface Mailet (Name, Service). Optional add-ons are found
// by type assertion (go-smtp's habit): Stager (the stages a mailet may run at, checked
// by Chains.Add), HealthChecker (Chains.Health pings external services) and io.Closer
// (Chains.Close).
//
// Policy as data (policy.go): BlockLists (sender, sender domain, IP/CIDR; the system
// list and each domain's) and DomainRules (conditions on from/to/subject/size/header →
// reject, quarantine, fileinto, addheader, drop), edited by administrators (package
// admin, FilterPolicy) and applied by the BlockList and DomainRules mailets. TrainLog
// (training.go) records what each account's classifier was trained on; package
// trainer trains from the user's Junk moves.
//
// Persistent state the built-in mailets need is behind interfaces declared here and
// implemented by drivers (internal/filter/sqlite, internal/filter/postgres; both pass
// filter/statetest and share the statements of internal/filter/sqlstore): Settings (spam
// levels), SieveScripts, Vacations, bayes.TokenStore per account (Tokens), the Quarantine
// of held messages, BlockLists, DomainRules and TrainLog. Built-in mailets live in internal/filter/mailets;
// the external-filter mailets in internal/filter/milter and internal/filter/httphook.
//
// Concurrency: Chains is built at start-up and then only read; it is safe for concurrent
// Run calls. A Mail belongs to one delivery and is not safe for concurrent use.
//
// The package imports only mailgrid's core and foundation packages (directory, store,
// mail, message/body) and the scanner packages; never a driver or a front-end.
package filter
