package imapserver

import (
	"context"
	"time"

	"mailgrid/internal/store"
)

// Sessions of a moved account. A user move (package cluster) ends on the old shard with
// one commit that deletes the account's mail there and publishes store.AccountMoved; the
// bus brings it to every node's sessions of the account, which then end with an untagged
// BYE (RFC 9051 7.1.5) carrying [UNAVAILABLE] (RFC 5530 3): the client reconnects, logs
// in again and reaches the new shard, where UIDVALIDITY and UIDs are those it had (its
// cache stays valid).
//
// A session with a selected mailbox hears it through the view's subscription (at once
// during IDLE). Every logged-in session also watches its account (watch, from LOGIN on,
// with the bus's smallest buffer): a session with nothing selected says BYE at its next
// command (NOOP, LIST, STATUS...) or at once if it idles. The watch is drained at every
// command; if it overflowed (more than its buffer of changes between two commands, or a
// bus transport's resync), the directory's placement, the only truth, is asked instead.

// movedText is the BYE text of a session whose account moved.
const movedText = "[UNAVAILABLE] Account moved to another server, please reconnect"

// applyMoved records an AccountMoved change (the selected mailbox is gone with the
// account) and reports whether ch was one.
func (v *view) applyMoved(ch store.Change) bool {
	if ch.Kind != store.AccountMoved {
		return false
	}
	v.deleted, v.moved = true, true
	return true
}

// goneText is the BYE text when the selected mailbox is gone.
func goneText(v *view) string {
	if v.moved {
		return movedText
	}
	return "Selected mailbox was deleted, closing connection"
}

// watchAccount starts watching the logged-in account (see above).
func (s *session) watchAccount() {
	s.watch = s.srv.opt.Bus.SubscribeGrowing(s.ref, 0)
}

// accountMoved drains the watch and reports whether the account left the session's
// shard.
func (s *session) accountMoved() bool {
	if s.watch == nil {
		return false
	}
	for ch, ok := s.watch.TryNext(); ok; ch, ok = s.watch.TryNext() {
		if ch.Kind == store.AccountMoved {
			return true
		}
	}
	if !s.watch.Overflowed() {
		return false
	}
	s.watch.Close()
	s.watch = s.srv.opt.Bus.SubscribeGrowing(s.ref, 0) // first: nothing after the check is missed
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := s.srv.opt.Directory.AccountByID(ctx, s.ref.Domain, s.ref.ID)
	if err != nil {
		s.log.Warn("placement check after a bus overflow", "err", err)
		return false // a directory fault ends no session; the next overflow asks again
	}
	return a.Shard != s.acct.Shard
}

// endWatch stops watching the account.
func (s *session) endWatch() {
	if s.watch != nil {
		s.watch.Close()
		s.watch = nil
	}
}
