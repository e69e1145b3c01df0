package smtpserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/mail"
	"mailgrid/internal/smtpserver"
	"mailgrid/internal/store"
)

// gatedStore wraps the real store: when armed, Deliver signals entered and waits for the
// gate (or its context) before committing.
type gatedStore struct {
	store.Store
	armed   atomic.Bool
	entered chan struct{}
	gate    chan struct{}
}

func newGated(s store.Store) *gatedStore {
	return &gatedStore{Store: s, entered: make(chan struct{}, 16), gate: make(chan struct{})}
}

func (g *gatedStore) Deliver(ctx context.Context, d store.Delivery) ([]store.DeliveryResult, error) {
	if g.armed.Load() {
		g.entered <- struct{}{}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.Deliver(ctx, d)
}

func gatedWorld(t *testing.T) (*world, *gatedStore) {
	var g *gatedStore
	w := newWorld(t, deliverytest.Options{WrapStore: func(s store.Store) store.Store { g = newGated(s); return g }})
	g.armed.Store(true)
	return w, g
}

func waitEntered(t *testing.T, g *gatedStore) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(deliverytest.Deadline):
		t.Fatal("Deliver never called")
	}
}

// noReplyYet checks that nothing has been written to the client for a moment.
func noReplyYet(t *testing.T, c *client) {
	t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if b, err := c.r.Peek(1); err == nil {
		t.Fatalf("reply %q written while the commit was pending", b)
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(deliverytest.Deadline)); err != nil {
		t.Fatal(err)
	}
}

// TestReplyAfterCommit: the 250 is written only after store.Deliver has returned.
func TestReplyAfterCommit(t *testing.T) {
	w, g := gatedWorld(t)
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	c.ok("DATA", 354)
	c.send("Subject: durable\r\n\r\nbody\r\n.\r\n")
	waitEntered(t, g)
	noReplyYet(t, c)
	if n := w.Total(t, w.user); n != 0 {
		t.Fatalf("stored before the commit was released: %d", n)
	}
	close(g.gate)
	c.expect(250)
	inbox(t, w, w.user, 1)
}

// TestShutdown: idle sessions are told 421 at once; a transaction in progress finishes
// (250) and only then gets 421; Shutdown returns when all are gone.
func TestShutdown(t *testing.T) {
	w, g := gatedWorld(t)
	srv, addr := w.server(t, smtpserver.ModeMX, nil)
	idle := dial(t, addr, w)
	idle.ok("EHLO idle.test", 250)
	greeted := dial(t, addr, w) // not even EHLO yet
	busy := dial(t, addr, w)
	busy.ok("EHLO busy.test", 250)
	busy.ok("MAIL FROM:<alice@remote.example>", 250)
	busy.ok("RCPT TO:<user@local.test>", 250)
	busy.ok("DATA", 354)
	busy.send("Subject: in flight\r\n\r\nbody\r\n.\r\n")
	waitEntered(t, g)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), deliverytest.Deadline)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	idle.expect(421, "4.3.2")
	if !idle.closed() {
		t.Fatal("idle session not closed")
	}
	greeted.expect(421, "4.3.2")
	noReplyYet(t, busy)
	close(g.gate)
	busy.expect(250)
	busy.expect(421, "4.3.2")
	if !busy.closed() {
		t.Fatal("session not closed after its transaction")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	inbox(t, w, w.user, 1)
}

// TestShutdownDeadline: when Shutdown's context ends, a pending commit is cancelled
// (451, nothing stored) and the session is told 421 and closed.
func TestShutdownDeadline(t *testing.T) {
	w, g := gatedWorld(t)
	srv, addr := w.server(t, smtpserver.ModeMX, nil)
	busy := dial(t, addr, w)
	busy.ok("EHLO busy.test", 250)
	busy.ok("MAIL FROM:<alice@remote.example>", 250)
	busy.ok("RCPT TO:<user@local.test>", 250)
	busy.ok("DATA", 354)
	busy.send("Subject: in flight\r\n\r\nbody\r\n.\r\n")
	waitEntered(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	noReplyYet(t, busy) // still waiting for its commit
	cancel()
	busy.expect(451, "4.3.0")
	busy.expect(421, "4.3.2")
	if !busy.closed() {
		t.Fatal("not closed")
	}
	if err := <-done; err != context.Canceled {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	w.nothingStored(t)
}

// TestPartialFailureAtData: a recipient whose mailbox filled up between RCPT and DATA gets
// a DSN while the others get the message; if it is the only recipient, the reply is 452
// and nothing is stored.
func TestPartialFailureAtData(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	full := w.Account(t, "full@local.test", "full-password", 1000)
	_, addr := w.server(t, smtpserver.ModeSubmission, nil)
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.startTLS()
	c.ok("EHLO client.test", 250)
	c.login("sender@local.test", "sender-password")
	c.ok("MAIL FROM:<sender@local.test>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	c.ok("RCPT TO:<full@local.test>", 250)
	fill(t, w, "full@local.test", 800) // meanwhile, full@ fills up
	msg := "From: sender@local.test\r\nSubject: partial\r\n\r\nbody\r\n"
	code, text := c.data(msg + ".\r\n")
	c.check(code, text, 250)
	inbox(t, w, w.user, 1)
	if n := len(w.Messages(t, full, "")); n != 1 {
		t.Fatalf("full@ has %d, want only the filler", n)
	}
	dsn := string(inbox(t, w, w.sender, 1)[0].Body)
	if !strings.Contains(dsn, "Final-Recipient: rfc822; full@local.test") || !strings.Contains(dsn, "Status: 4.2.2") {
		t.Fatalf("DSN:\n%s", dsn)
	}

	c.ok("MAIL FROM:<sender@local.test> SIZE=500", 250)
	c.ok("RCPT TO:<full@local.test>", 452, "4.2.2") // with SIZE= it is now refused at RCPT
	c.ok("RSET", 250)
	c.ok("QUIT", 221)
}

func fill(t *testing.T, w *world, rcpt string, size int) {
	t.Helper()
	env := &delivery.Envelope{Recipients: []delivery.Recipient{{Addr: mail.MustParse(rcpt)}}}
	res, err := w.Pipeline.Deliver(context.Background(), env, delivery.Bytes(strings.Repeat("f", size)))
	if err != nil || res[0].Err != nil {
		t.Fatalf("fill %s: %v %v", rcpt, err, res[0].Err)
	}
}

// TestAllFailAtData: when no copy could be committed the failure is the reply (452) and
// nothing is stored anywhere (no DSN: the client still holds the message).
func TestAllFailAtData(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	full := w.Account(t, "full@local.test", "full-password", 1000)
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<full@local.test>", 250)
	fill(t, w, "full@local.test", 800)
	code, text := c.data("Subject: x\r\n\r\nbody\r\n.\r\n")
	if code != 452 || !strings.HasPrefix(text, "4.2.2") {
		t.Fatalf("got %d %s, want 452 4.2.2", code, text)
	}
	if n := len(w.Messages(t, full, "")); n != 1 {
		t.Fatalf("full@ has %d", n)
	}
	w.nothingStored(t)
}

// TestSaveSent: the client asks for a Sent copy with X-Mailgrid-Save-Sent: yes; the header
// is removed from every copy.
func TestSaveSent(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, nil)
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.startTLS()
	c.ok("EHLO client.test", 250)
	c.login("sender@local.test", "sender-password")
	c.ok("MAIL FROM:<sender@local.test>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	msg := "From: sender@local.test\r\nMessage-ID: <s@local.test>\r\nDate: " + fixedDate + "\r\nSubject: keep\r\n"
	code, text := c.data(msg + "X-Mailgrid-Save-Sent: yes\r\n\r\nbody\r\n.\r\n")
	c.check(code, text, 250)
	want := msg + "\r\nbody\r\n"
	sent := w.Messages(t, w.sender, "Sent")
	if len(sent) != 1 || string(sent[0].Body) != want {
		t.Fatalf("Sent copy: %+v", sent)
	}
	splitTrace(t, inbox(t, w, w.user, 1)[0].Body, "sender@local.test", want)
}

// faultyStore fails every Deliver, as a broken disk or database would.
type faultyStore struct{ store.Store }

func (faultyStore) Deliver(context.Context, store.Delivery) ([]store.DeliveryResult, error) {
	return nil, errors.New("database is locked")
}

// TestStoreFaultIs451: an infrastructure fault is a temporary reply, never a 5xx, and its
// cause stays in the log.
func TestStoreFaultIs451(t *testing.T) {
	w := newWorld(t, deliverytest.Options{WrapStore: func(s store.Store) store.Store { return faultyStore{s} }})
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	code, text := c.data("Subject: x\r\n\r\nbody\r\n.\r\n")
	c.check(code, text, 451, "4.3.0")
	if strings.Contains(text, "locked") {
		t.Errorf("internal error leaked: %s", text)
	}
	w.nothingStored(t)
}

// TestImplicitTLS: submission on port 465 style, TLS from the first byte (RFC 8314 3.3).
func TestImplicitTLS(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, func(o *smtpserver.Options) { o.ImplicitTLS = true })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(mustRead(t, w.certFile))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(deliverytest.Deadline)); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect(220)
	ehlo := c.ok("EHLO client.test", 250)
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Fatalf("EHLO on implicit TLS:\n%s", ehlo)
	}
	c.login("sender@local.test", "sender-password")
	c.ok("MAIL FROM:<sender@local.test>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	msg := "From: sender@local.test\r\nMessage-ID: <i@local.test>\r\nDate: " + fixedDate + "\r\n\r\nhi\r\n"
	code, text := c.data(msg + ".\r\n")
	c.check(code, text, 250)
	if _, proto, _ := splitTrace(t, inbox(t, w, w.user, 1)[0].Body, "sender@local.test", msg); proto != "ESMTPSA" {
		t.Errorf("protocol %q", proto)
	}
}
