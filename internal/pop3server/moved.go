package pop3server

import (
	"context"
	"time"

	"mailgrid/internal/store"
)

// Sessions of a moved account. A user move (package cluster) ends on the old shard with
// one commit that deletes the account's mail there and publishes store.AccountMoved. A
// POP3 session of the account in the TRANSACTION state watches for it (from the login
// on, when Options.Bus is set) and answers its next command, whatever it is (QUIT too),
// with "-ERR [SYS/TEMP]" (RFC 3206 4: a temporary fault; the client retries, logs in
// again and reaches the new shard) and ends without UPDATE: nothing it marked deleted is
// deleted, as after a dropped connection (RFC 1939 6). If the watch overflowed (more
// changes than its buffer between two commands, or a bus transport's resync), the
// directory's placement, the only truth, is asked instead.

var errMoved = &Error{Code: codeSysTemp, Text: "Account moved to another server, please reconnect", Close: true}

// watchAccount starts watching the logged-in account.
func (s *session) watchAccount() {
	if s.srv.opt.Bus != nil {
		s.watch = s.srv.opt.Bus.Subscribe(s.ref, 0)
	}
}

// accountMoved drains the watch and reports whether the account left the session's
// shard.
func (s *session) accountMoved() bool {
	if s.watch == nil {
		return false
	}
	for {
		select {
		case ch, ok := <-s.watch.C:
			if !ok {
				return false
			}
			if ch.Kind == store.AccountMoved {
				return true
			}
			continue
		default:
		}
		break
	}
	if !s.watch.Overflowed() {
		return false
	}
	s.watch.Close()
	s.watch = s.srv.opt.Bus.Subscribe(s.ref, 0) // first: nothing after the check is missed
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
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
