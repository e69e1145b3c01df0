package web

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"mailgrid/internal/store"
)

// Live updates: GET /mail/events is a Server-Sent Events stream (HTML Living Standard
// 9.2, text/event-stream) of the signed-in account's committed changes, fed by the bus
// (MailOptions.Bus; the same events IMAP IDLE sees, across nodes in a cluster). Each
// event says only that something changed ("change", with the kind and folder id) — the
// page reloads what it shows from the store, so a lost event costs at most a late
// refresh. A subscription that overflowed gets "resync" and the stream ends. The stream
// also ends after eventsLifetime (EventSource reconnects by itself), at server shutdown,
// and when the client goes. Without a bus the endpoint answers 204, which tells
// EventSource not to reconnect.

const (
	eventsLifetime = 10 * time.Minute
	eventsPing     = 25 * time.Second // a comment line keeps proxies from closing the stream
	eventsWrite    = 30 * time.Second // write deadline of each event
)

// eventStops ends open streams when the server shuts down (http.Server.Shutdown waits for
// active requests, and a stream never finishes by itself).
type eventStops struct {
	once, closed sync.Once
	stop         chan struct{}
}

func (s *Server) mailEvents(ev *eventStops) func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	return func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		b := s.opt.Mail.Bus
		if b == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		ev.once.Do(func() {
			s.srv.RegisterOnShutdown(func() { ev.closed.Do(func() { close(ev.stop) }) }) // Shutdown may be called twice
		})
		sub := b.Subscribe(c.ref, 64)
		defer sub.Close()
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("X-Accel-Buffering", "no")
		rc := http.NewResponseController(w)
		send := func(text string) bool {
			if err := rc.SetWriteDeadline(time.Now().Add(eventsWrite)); err != nil {
				s.log.Debug("webmail: events deadline", "err", err)
			}
			if _, err := io.WriteString(w, text); err != nil {
				return false
			}
			return rc.Flush() == nil
		}
		if !send("retry: 5000\n\n") {
			return
		}
		ping := time.NewTicker(eventsPing)
		defer ping.Stop()
		end := time.NewTimer(eventsLifetime)
		defer end.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-ev.stop:
				return
			case <-end.C:
				return
			case <-ping.C:
				if !send(": ping\n\n") {
					return
				}
			case ch, ok := <-sub.C:
				if !ok {
					return
				}
				if ch.Kind == store.AccountDeleted || ch.Kind == store.AccountDisabled {
					return // the account ended (admin announce.go): its web sessions are gone too
				}
				if sub.Overflowed() || ch.Kind == store.AccountResync {
					send("event: resync\ndata: resync\n\n")
					return
				}
				if !send(fmt.Sprintf("event: change\ndata: %s %d\n\n", ch.Kind, ch.Mailbox)) {
					return
				}
			}
		}
	}
}
