package imapserver

import (
	"context"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// Sessions of an account that moved, was deleted or was disabled end at once, with an
// untagged BYE (RFC 9051 7.1.5) saying why.
//
// A user move (package cluster) ends on the old shard with one commit that deletes the
// account's mail there and publishes store.AccountMoved; the BYE carries [UNAVAILABLE]
// (RFC 5530 3): the client reconnects, logs in again and reaches the new shard, where
// UIDVALIDITY and UIDs are those it had (its cache stays valid). An operator deleting or
// disabling the account (or its domain) makes the admin service announce
// store.AccountDeleted or store.AccountDisabled after the directory changed; the BYE
// says so, without a response code: a new login is refused (RFC 5530 has no code for
// an account closed by its operator, and [UNAVAILABLE] would invite a retry).
//
// The bus brings these changes to every node's sessions of the account. A session with
// a selected mailbox hears them through the view's subscription (at once during IDLE).
// Every logged-in session also watches its account (watch, from LOGIN on, with the
// bus's smallest buffer): a session with nothing selected says BYE at its next command
// (NOOP, LIST, STATUS...) or at once if it idles. The watch is drained at every command;
// if it overflowed (more than its buffer of changes between two commands, or a bus
// transport's resync), the directory, the only truth, is asked instead: the account
// gone, disabled (or its domain), or placed on another shard.

// BYE texts of the changes that end a session.
const (
	movedText    = "[UNAVAILABLE] Account moved to another server, please reconnect"
	deletedText  = "Account deleted, closing connection"
	disabledText = "Account disabled, closing connection"
)

// endText is the BYE text of a change that ends every session of its account, "" for
// any other change.
func endText(k store.ChangeKind) string {
	switch k {
	case store.AccountMoved:
		return movedText
	case store.AccountDeleted:
		return deletedText
	case store.AccountDisabled:
		return disabledText
	}
	return ""
}

// applyEnded records a change that ends the account's sessions (the selected mailbox is
// gone with it) and reports whether ch was one.
func (v *view) applyEnded(ch store.Change) bool {
	t := endText(ch.Kind)
	if t == "" {
		return false
	}
	v.deleted, v.ended = true, t
	return true
}

// goneText is the BYE text when the selected mailbox is gone.
func goneText(v *view) string {
	if v.ended != "" {
		return v.ended
	}
	return "Selected mailbox was deleted, closing connection"
}

// watchAccount starts watching the logged-in account (see above).
func (s *session) watchAccount() {
	s.watch = s.srv.opt.Bus.SubscribeGrowing(s.ref, 0)
}

// accountEnded drains the watch and returns the BYE text if the session must end (the
// account moved, was deleted or disabled), else "".
func (s *session) accountEnded() string {
	if s.watch == nil {
		return ""
	}
	for ch, ok := s.watch.TryNext(); ok; ch, ok = s.watch.TryNext() {
		if t := endText(ch.Kind); t != "" {
			return t
		}
	}
	if !s.watch.Overflowed() {
		return ""
	}
	s.watch.Close()
	s.watch = s.srv.opt.Bus.SubscribeGrowing(s.ref, 0) // first: nothing after the check is missed
	return s.askDirectory()
}

// askDirectory returns the BYE text the directory's view of the account calls for, ""
// if the session may go on. A directory fault ends no session; the next overflow asks
// again.
func (s *session) askDirectory() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := directory.AccountStanding(ctx, s.srv.opt.Directory, s.ref.Domain, s.ref.ID, s.acct.Shard)
	if err != nil {
		s.log.Warn("account check after a bus overflow", "err", err)
	}
	switch st {
	case directory.StandingDeleted:
		return deletedText
	case directory.StandingMoved:
		return movedText
	case directory.StandingDisabled:
		return disabledText
	}
	return ""
}

// endWatch stops watching the account.
func (s *session) endWatch() {
	if s.watch != nil {
		s.watch.Close()
		s.watch = nil
	}
}
