package managesieve

import (
	"context"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// Sessions of a deleted or disabled account end at once. An operator deleting or
// disabling the account (or its domain) makes the admin service announce
// store.AccountDeleted or store.AccountDisabled once the directory changed; the bus
// brings it to every node. A logged-in session watches its account (when Options.Bus
// is set): the subscription's notify function (bus.Watch, in the publisher's goroutine)
// sees the change and wakes the session's read, which then says BYE with the reason (RFC 5804 1.3, 2.1: the server
// may end the connection with an untagged BYE) and closes. No response code: a new
// login is refused. A user move (store.AccountMoved) ends nothing here: scripts do not
// live on the account's shard.
//
// If the watch overflowed (more changes than its buffer, or a bus transport's resync),
// the next command asks the directory, the only truth.

var (
	lineDeleted  = response("BYE", "", "Account deleted, closing connection")
	lineDisabled = response("BYE", "", "Account disabled, closing connection")
)

// endLine is the BYE of a change that ends the account's ManageSieve sessions, "" for
// any other.
func endLine(k store.ChangeKind) string {
	switch k {
	case store.AccountDeleted:
		return lineDeleted
	case store.AccountDisabled:
		return lineDisabled
	}
	return ""
}

// watchAccount starts watching the logged-in account. The subscription's notify
// function (bus.Watch) takes each change as it is published, so no goroutine waits for it.
func (s *session) watchAccount() {
	if s.srv.opt.Bus == nil {
		return
	}
	s.watch = s.srv.opt.Bus.Watch(s.ref, 0, func(ch store.Change) {
		if l := endLine(ch.Kind); l != "" {
			obs.Check(s.log, s.c.end(l), "wake the session's read")
		}
	})
}

// accountEnded returns the BYE if the session must end: the watch saw the account's
// end, or the watch overflowed and the directory says so.
func (s *session) accountEnded() string {
	if l := s.c.ended.Load(); l != nil {
		return *l
	}
	if s.watch == nil || !s.watch.Overflowed() {
		return ""
	}
	s.endWatch()
	s.watchAccount() // first: nothing after the check is missed
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	// Scripts do not live on the account's shard: a move ends nothing here.
	st, err := directory.AccountStanding(ctx, s.srv.opt.Directory, s.ref.Domain, s.ref.ID, "")
	if err != nil {
		s.log.Warn("account check after a bus overflow", "err", err)
	}
	switch st {
	case directory.StandingDeleted:
		return lineDeleted
	case directory.StandingDisabled:
		return lineDisabled
	}
	return ""
}

// endWatch stops watching the account. Once Close returns no Publish is inside the watch function
// (Close waits for the bus's lock that Publish holds).
func (s *session) endWatch() {
	if s.watch != nil {
		s.watch.Close()
		s.watch = nil
	}
}
