package imapserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/obs"
)

// IDLE on one goroutine. The session's goroutine reads the client's DONE itself; a change
// published for the session wakes that read through the read deadline (the subscription's
// bus.SetNotify sets it in the past), after which the session sends what changed, puts
// the autologout deadline back and reads on. An idling connection so holds one goroutine
// and its stack instead of two, and no channel.
//
// A read cut by the deadline resumes: TLS keeps a partial record (a timeout is not one of
// its fatal errors), and the bytes of the line read so far are kept here. The one
// exception is COMPRESS=DEFLATE (RFC 4978): the inflater's errors are final, so such a
// session idles as before, with a reader goroutine (idleLoop).
//
// Ordering: the deadline is put back first, then shutdown is checked and the changes are
// taken, then the socket is read. A change published after the take sets the deadline in
// the past after it was put back, so the read returns at once; Shutdown sets closing
// before it interrupts.

// idleInline runs IDLE until DONE (nil, with the line in s.p.line) or its end.
func (s *session) idleInline() error {
	until := time.Now().Add(s.srv.opt.IdleTimeout) // RFC 9051 5.4 autologout
	wake := func() { obs.Check(s.log, s.raw.SetReadDeadline(time.Unix(1, 0)), "wake idle") }
	defer s.setIdleNotify(nil)
	line := s.p.line[:0]
	for {
		s.setIdleNotify(wake) // again: a resync or a watch check may have subscribed anew
		obs.Check(s.log, s.raw.SetReadDeadline(until), "set read deadline")
		if s.srv.closing.Load() {
			s.bye("Server shutting down")
			return errIdleEnded
		}
		if end, err := s.idleNews(); end {
			return err
		}
		frag, err := s.br.ReadSlice('\n')
		if len(line)+len(frag) > s.p.maxLine {
			return errLineTooLong()
		}
		line = append(line, frag...)
		var ne net.Error
		switch {
		case err == nil:
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			s.p.line, s.p.pos = line, 0
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.As(err, &ne) && ne.Timeout():
			if !time.Now().Before(until) && !s.srv.closing.Load() {
				s.bye("Autologout; idle for too long")
				return errIdleEnded
			}
		case errors.Is(err, io.EOF) && len(line) > 0:
			return io.ErrUnexpectedEOF
		default:
			return err
		}
	}
}

// idleNews sends the selected mailbox's pending changes; with nothing selected only the
// account's end is news (ended.go). end reports that IDLE ends, with err for
// cmdIdle.
func (s *session) idleNews() (end bool, err error) {
	if s.sel == nil {
		if t := s.accountEnded(); t != "" {
			s.bye(t)
			return true, errIdleEnded
		}
		return false, nil
	}
	s.drainChanges()
	if !s.pushUpdates(true) || s.w.flush() != nil {
		return true, net.ErrClosed
	}
	if s.sel.deleted {
		s.selectedGone()
		return true, errIdleEnded
	}
	return false, nil
}

// setIdleNotify sets (or with nil removes) the wake-up of the subscription IDLE waits
// on: the selected mailbox's, else the account watch.
func (s *session) setIdleNotify(fn func()) {
	var sub *bus.Subscription
	switch {
	case s.sel != nil && s.sel.sub != nil:
		sub = s.sel.sub
	case s.sel == nil && s.watch != nil:
		sub = s.watch
	default:
		return
	}
	sub.SetNotify(fn)
}
