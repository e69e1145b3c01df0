package pop3server

import (
	"context"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// Sessions of an account that moved, was deleted or was disabled. A user move (package
// cluster) ends on the old shard with one commit that deletes the account's mail there
// and publishes store.AccountMoved; an operator deleting or disabling the account (or
// its domain) makes the admin service announce store.AccountDeleted or
// store.AccountDisabled once the directory changed. A POP3 session of the account in the
// TRANSACTION state watches for them (from the login on, when Options.Bus is set) and
// ends at once, without UPDATE: nothing it marked deleted is deleted, as after a dropped
// connection (RFC 1939 6). The subscription's notify function (bus.Watch, in the
// publisher's goroutine) sees the change and wakes the session's read; the session then
// writes its last line and closes. POP3 has
// no unsolicited replies, so that line is what the client reads as the answer to its
// next command: "-ERR [SYS/TEMP]" for a move (RFC 3206 4: a temporary fault; the client
// retries, logs in again and reaches the new shard), "-ERR" saying the account was
// deleted or disabled otherwise (a new login is refused).
//
// If the watch overflowed (more changes than its buffer, or a bus transport's resync),
// the next command asks the directory, the only truth: the
// account gone, disabled (or its domain), or placed on another shard.

var (
	errMoved    = &Error{Code: codeSysTemp, Text: "Account moved to another server, please reconnect", Close: true}
	errAcctGone = &Error{Text: "Account deleted, closing connection", Close: true}
	errAcctOff  = &Error{Text: "Account disabled, closing connection", Close: true}
)

// endError is the last reply of a change that ends every session of its account, nil
// for any other change.
func endError(k store.ChangeKind) *Error {
	switch k {
	case store.AccountMoved:
		return errMoved
	case store.AccountDeleted:
		return errAcctGone
	case store.AccountDisabled:
		return errAcctOff
	}
	return nil
}

// watchAccount starts watching the logged-in account. The subscription's notify
// function (bus.Watch) takes each change as it is published, so no goroutine waits for it.
func (s *session) watchAccount() {
	if s.srv.opt.Bus == nil {
		return
	}
	s.watch = s.srv.opt.Bus.Watch(s.ref, 0, func(ch store.Change) {
		if e := endError(ch.Kind); e != nil {
			obs.Check(s.log, s.c.end(e), "wake the session's read")
		}
	})
}

// accountEnded returns the last reply if the session must end: the watch saw the
// account's end, or the watch overflowed and the directory says so.
func (s *session) accountEnded() *Error {
	if e := s.c.ended.Load(); e != nil {
		return e
	}
	if s.watch == nil || !s.watch.Overflowed() {
		return nil
	}
	s.endWatch()
	s.watchAccount() // first: nothing after the check is missed
	return s.askDirectory()
}

// askDirectory returns the last reply the directory's view of the account calls for,
// nil if the session may go on. A directory fault ends no session; the next overflow
// asks again.
func (s *session) askDirectory() *Error {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	st, err := directory.AccountStanding(ctx, s.srv.opt.Directory, s.ref.Domain, s.ref.ID, s.acct.Shard)
	if err != nil {
		s.log.Warn("account check after a bus overflow", "err", err)
	}
	switch st {
	case directory.StandingDeleted:
		return errAcctGone
	case directory.StandingMoved:
		return errMoved
	case directory.StandingDisabled:
		return errAcctOff
	}
	return nil
}

// endWatch stops watching the account. Once Close returns no Publish is inside the watch function
// (Close waits for the bus's lock that Publish holds).
func (s *session) endWatch() {
	if s.watch != nil {
		s.watch.Close()
		s.watch = nil
	}
}
