package pop3server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/linetest"
)

// Unknown user and wrong password: the same reply, and both wait the configured delay
// exactly once (observed through the injected Sleep, never by wall time).
func TestLoginFailureIndistinguishable(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, nil)
	c := dialGreeted(t, addr)
	c.stls()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	type attempt struct{ name, user, pass string }
	var replies []string
	for _, a := range []attempt{
		{"unknown user", "nobody@local.test", userPass},
		{"wrong password", userAddr, "not-the-password"},
		{"unknown domain", "user@nowhere.test", userPass},
		{"unparsable login", "not an address", userPass},
	} {
		c.cmd("USER " + strings.ReplaceAll(a.user, " ", "_"))
		r1 := c.cmd("PASS " + a.pass)
		r2 := c.cmd("AUTH PLAIN " + b64("\x00"+a.user+"\x00"+a.pass))
		if d := w.sleeps.Take(); !slices.Equal(d, []time.Duration{2 * time.Second, 2 * time.Second}) {
			t.Errorf("%s: delays %v, want 2s for each of the two attempts", a.name, d)
		}
		replies = append(replies, r1, r2)
	}
	for _, r := range replies {
		if r != "-ERR [AUTH] Authentication failed" {
			t.Errorf("reply %q differs", r)
		}
	}
	if got := c.cmd("AUTH PLAIN " + b64("\x00"+userAddr+"\x00"+userPass)); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("good login after failures = %q", got)
	}
	if d := w.sleeps.Take(); len(d) != 0 {
		t.Errorf("a good login waited %v", d)
	}
}

// A disabled account is told so only after the right password; with a wrong password it
// looks like any failure.
func TestDisabledAccount(t *testing.T) {
	w := newWorld(t)
	off := false
	if _, err := w.Dir.UpdateAccount(context.Background(), mail.MustParse(userAddr), directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	c := dialGreeted(t, w.start(t, nil))
	c.stls()
	c.cmd("USER " + userAddr)
	if got := c.cmd("PASS wrong"); got != "-ERR [AUTH] Authentication failed" {
		t.Fatalf("wrong password on a disabled account = %q", got)
	}
	c.cmd("USER " + userAddr)
	if got := c.cmd("PASS " + userPass); got != "-ERR [SYS/PERM] Account disabled, contact your administrator" {
		t.Fatalf("disabled account = %q", got)
	}
}

// Infrastructure faults are [SYS/TEMP] (RFC 3206 4): here the account's shard is unknown.
func TestStoreFaultIsSysTemp(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, func(o *pop3server.Options) { o.Shards = delivery.StaticShards{} })
	c := dialGreeted(t, addr)
	c.stls()
	c.cmd("USER " + userAddr)
	if got := c.cmd("PASS " + userPass); got != "-ERR [SYS/TEMP] Temporary server failure, try again later" {
		t.Fatalf("login with the store unavailable = %q", got)
	}
}

// LOGIN-DELAY (RFC 2449 8.1.1) on the injected clock.
func TestLoginDelay(t *testing.T) {
	w := newWorld(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC).Unix())
	addr := w.start(t, func(o *pop3server.Options) {
		o.LoginDelay = 15 * time.Minute
		o.Now = func() time.Time { return time.Unix(now.Load(), 0) }
	})
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	c.cmd("QUIT")
	now.Add(14 * 60)
	c = dialGreeted(t, addr)
	c.stls()
	c.cmd("USER " + userAddr)
	if got := c.cmd("PASS " + userPass); got != "-ERR [LOGIN-DELAY] Minimum time between logins not reached" {
		t.Fatalf("login after 14 minutes = %q", got)
	}
	now.Add(60)
	c.cmd("USER " + userAddr)
	if got := c.cmd("PASS " + userPass); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("login after 15 minutes = %q", got)
	}
}

// Commands pipelined after STLS in the same packet are discarded, not run after the
// handshake (RFC 2595 4; CVE-2011-0411 class).
func TestSTLSInjection(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200))
	c := dialGreeted(t, w.start(t, nil))
	c.Send("STLS\r\nUSER " + userAddr + "\r\nPASS " + userPass + "\r\nDELE 1\r\nQUIT")
	c.ExpectPrefix("+OK Begin TLS")
	c.Handshake()
	if got := c.cmd("STAT"); got != "-ERR Command not valid in this state" {
		t.Fatalf("STAT after injected login = %q: injected commands ran", got)
	}
	c.login2()
	if got := c.cmd("STAT"); !strings.HasPrefix(got, "+OK 1 ") {
		t.Fatalf("STAT = %q", got)
	}
}

// login2 logs in on a connection already under TLS.
func (c *client) login2() {
	c.T.Helper()
	c.cmd("USER " + userAddr)
	c.expectPrefix2(c.cmd("PASS "+userPass), "+OK")
}

func (c *client) expectPrefix2(got, prefix string) {
	c.T.Helper()
	if !strings.HasPrefix(got, prefix) {
		c.T.Fatalf("reply %q, want prefix %q", got, prefix)
	}
}

// Implicit TLS (RFC 8314 3.3): the greeting comes under TLS; plaintext commands sent
// instead of a handshake are never run and get no plaintext reply.
func TestImplicitTLS(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200))
	addr := w.start(t, func(o *pop3server.Options) { o.ImplicitTLS = true })

	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &client{&linetest.Client{T: t, Conn: conn, R: bufio.NewReader(conn)}}
	c.ExpectPrefix("+OK pop.test POP3 server ready")
	if got := c.cmd("CAPA"); got != "+OK Capability list follows" {
		t.Fatalf("CAPA = %q", got)
	}
	if caps := string(c.multi()); strings.Contains(caps, "STLS") || !strings.Contains(caps, "USER") {
		t.Fatalf("CAPA under implicit TLS: %q", caps)
	}
	c.login2()
	c.cmd("DELE 1")
	c.cmd("QUIT")

	raw := dial(t, addr)
	raw.Send("USER " + userAddr + "\r\nPASS " + userPass + "\r\nDELE 1\r\nQUIT")
	data, _ := io.ReadAll(raw.Conn) // the server fails the handshake and closes
	if strings.Contains(string(data), "+OK") || strings.Contains(string(data), "-ERR") {
		t.Fatalf("plaintext reply on an implicit-TLS port: %q", data)
	}
}

// A line over MaxLineLength gets "-ERR Line too long" and the session ends; a line
// between RFC 2449's 255 octets and the limit is still read as a command.
func TestOverlongLine(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, nil)
	c := dialGreeted(t, addr)
	if got := c.cmd("NOOP " + strings.Repeat("a", 600)); got != "-ERR Command not valid in this state" {
		t.Fatalf("600-octet line = %q", got)
	}
	if got := c.cmd("NOOP " + strings.Repeat("a", 1000)); got != "-ERR Line too long" {
		t.Fatalf("1005-octet line = %q", got)
	}
	c.Closed()

	c = dialGreeted(t, addr) // a stream without any line end
	go func() {
		chunk := []byte(strings.Repeat("x", 4096))
		for i := 0; i < 64; i++ {
			if _, err := c.Conn.Write(chunk); err != nil {
				return // closed by the server, as it should be
			}
		}
	}()
	if got := c.Line(); got != "-ERR Line too long" {
		t.Fatalf("endless line = %q", got)
	}
}

// The RFC 1939 3 autologout ends an idle session without UPDATE.
func TestIdleTimeout(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200))
	addr := w.start(t, func(o *pop3server.Options) { o.IdleTimeout = 300 * time.Millisecond })
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	c.cmd("DELE 1")
	if got := c.Line(); got != "-ERR Disconnected for inactivity" {
		t.Fatalf("idle session = %q", got)
	}
	c.Closed()
	if n := len(w.inbox(t)); n != 1 {
		t.Fatalf("an idle-timed-out session deleted: %d messages left", n)
	}
}

// MaxConnsPerIP: the connection over the limit is refused with [SYS/TEMP].
func TestPerIPLimit(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, func(o *pop3server.Options) { o.MaxConnsPerIP = 2 })
	a, b := dialGreeted(t, addr), dialGreeted(t, addr)
	c := dial(t, addr)
	if got := c.Line(); got != "-ERR [SYS/TEMP] Too many connections from your address" {
		t.Fatalf("third connection = %q", got)
	}
	c.Closed()
	a.cmd("QUIT")
	a.Closed()
	for i := 0; ; i++ { // the slot frees once the server has closed a's session
		d := dial(t, addr)
		if l := d.Line(); strings.HasPrefix(l, "+OK") {
			break
		} else if i == 200 {
			t.Fatalf("slot not freed: %q", l)
		}
		waitABit()
	}
	b.cmd("NOOP")
}

// blockingStore holds Expunge until released, to catch a session in UPDATE.
type blockingStore struct {
	store.Store
	entered  chan struct{}
	release  chan struct{}
	expunged atomic.Bool
}

func (b *blockingStore) Expunge(ctx context.Context, acct store.AccountRef, mbox store.MailboxID, uids []store.UID) ([]store.UID, error) {
	close(b.entered)
	<-b.release
	gone, err := b.Store.Expunge(ctx, acct, mbox, uids)
	b.expunged.Store(true)
	return gone, err
}

// Shutdown tells an idle session "-ERR [SYS/TEMP]" (nothing deleted) while a session in
// UPDATE finishes its expunge and its sign-off; Shutdown returns after it.
func TestShutdown(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200), testMessage(2, 200))
	other := w.Account(t, "other@local.test", "other-password", 0)
	bs := &blockingStore{Store: w.Store, entered: make(chan struct{}), release: make(chan struct{})}
	opt := w.options()
	opt.Shards = staticShards(bs)
	srv, addr := w.serve(t, opt)

	busy := dialGreeted(t, addr)
	busy.login(userAddr, userPass)
	busy.cmd("DELE 1")
	idle := dialGreeted(t, addr)
	idle.stls()
	idle.cmd("USER " + other.Address.String())
	idle.expectPrefix2(idle.cmd("PASS other-password"), "+OK")

	busy.Send("QUIT")
	<-bs.entered
	var shutdownErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), deliverytest.Deadline)
		defer cancel()
		shutdownErr = srv.Shutdown(ctx)
	}()
	if got := idle.Line(); got != "-ERR [SYS/TEMP] Server shutting down" {
		t.Fatalf("idle session at shutdown = %q", got)
	}
	idle.Closed()
	close(bs.release)
	if got := busy.Line(); got != "+OK pop.test POP3 server signing off (1 messages left)" {
		t.Fatalf("session in UPDATE at shutdown = %q", got)
	}
	wg.Wait()
	if shutdownErr != nil || !bs.expunged.Load() {
		t.Fatalf("Shutdown = %v, expunge finished before it returned: %v", shutdownErr, bs.expunged.Load())
	}
	if n := len(w.inbox(t)); n != 1 {
		t.Fatalf("%d messages left, want 1", n)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
}

// Shutdown with an expired context closes every session and reports the context error.
func TestShutdownForced(t *testing.T) {
	w := newWorld(t)
	bs := &blockingStore{Store: w.Store, entered: make(chan struct{}), release: make(chan struct{})}
	w.deliver(t, testMessage(1, 200))
	opt := w.options()
	opt.Shards = staticShards(bs)
	srv, addr := w.serve(t, opt)
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	c.cmd("DELE 1")
	c.Send("QUIT")
	<-bs.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	c.Closed() // the forced close reaches the client while UPDATE is still blocked
	close(bs.release)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("forced Shutdown = %v", err)
	}
}
