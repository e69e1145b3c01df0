package imapserver

import (
	"errors"
	"net"
	"strings"
	"time"

	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// errIdleEnded ends the connection after IDLE was cut by shutdown or autologout (the BYE
// is already written).
var errIdleEnded = errors.New("idle ended")

// cmdIdle: RFC 2177 / RFC 9051 6.3.13. Changes are pushed as they arrive from the bus
// until the client sends DONE, read by the session's own goroutine (idle_wake.go; under
// COMPRESS a reader goroutine owns the parser meanwhile). Shutdown and the autologout
// timer end it through the read deadline.
func cmdIdle(s *session, c *command) error {
	if err := s.p.end(); err != nil {
		return err
	}
	if s.sel != nil {
		s.drainChanges()
		if !s.pushUpdates(true) {
			return net.ErrClosed
		}
	}
	s.w.raw("+ idling\r\n")
	if err := s.w.flush(); err != nil {
		return err
	}
	if !s.beginWait() {
		s.bye("Server shutting down")
		return errIdleEnded
	}
	s.idleReader()
	s.setWriteBuffer(idleWriteBuffer)
	var err error
	if s.compress { // the inflater cannot resume a read cut by a deadline (idle_wake.go)
		lineDone := make(chan error, 1)
		go func() { lineDone <- s.p.readLine() }()
		err = s.idleLoop(lineDone)
	} else {
		err = s.idleInline()
	}
	s.endWait()
	s.setWriteBuffer(writeBuffer)
	s.restoreReader()
	if err != nil {
		return err
	}
	if line := string(s.p.line); !strings.EqualFold(line, "DONE") {
		s.p.pos = len(s.p.line)
		return bad("expected DONE")
	}
	s.p.pos = len(s.p.line)
	return nil
}

func (s *session) idleLoop(lineDone chan error) error {
	var changes, watch <-chan store.Change
	if s.sel != nil {
		changes = s.sel.sub.C
	} else if s.watch != nil { // nothing selected: only the account's end is news (ended.go)
		watch = s.watch.C
	}
	done := s.srv.done
	for {
		select {
		case ch, ok := <-watch:
			if !ok {
				watch = nil
				continue
			}
			t := endText(ch.Kind)
			if t == "" {
				t = s.accountEnded() // takes the rest
			}
			if t != "" {
				s.abortRead(lineDone)
				s.bye(t)
				return errIdleEnded
			}
			watch = s.watch.C // accountEnded may have subscribed again
		case ch, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			s.sel.apply(ch)
			s.drainChanges()
			if !s.pushUpdates(true) || s.w.flush() != nil {
				s.abortRead(lineDone)
				return net.ErrClosed
			}
			if s.sel.deleted {
				s.abortRead(lineDone)
				s.selectedGone()
				return errIdleEnded
			}
			changes = s.sel.sub.C // a resync may have replaced the subscription
		case <-done:
			done = nil
			obs.Check(s.log, s.raw.SetReadDeadline(time.Unix(1, 0)), "interrupt idle")
		case err := <-lineDone:
			if err == nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if s.srv.closing.Load() {
					s.bye("Server shutting down")
				} else {
					s.bye("Autologout; idle for too long")
				}
				return errIdleEnded
			}
			return err
		}
	}
}

// abortRead stops the reader goroutine and waits for it.
func (s *session) abortRead(lineDone chan error) {
	obs.Check(s.log, s.raw.SetReadDeadline(time.Unix(1, 0)), "stop idle reader")
	<-lineDone
}
