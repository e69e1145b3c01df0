package netserve

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPerIP(t *testing.T) {
	p := NewPerIP(2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for i := range 2 {
		if !p.Acquire(a) {
			t.Fatalf("connection %d of one address is refused", i+1)
		}
	}
	if p.Acquire(a) {
		t.Fatal("a third connection of one address is admitted")
	}
	if !p.Acquire(b) {
		t.Fatal("another address is refused")
	}
	p.Release(a)
	if !p.Acquire(a) {
		t.Fatal("a released slot is not reusable")
	}
	p.Release(a)
	p.Release(a)
	p.Release(a) // more releases than acquisitions leave the count at zero
	if len(p.n) != 1 {
		t.Fatalf("counts left: %v, want only %v", p.n, b)
	}
}

// echoServer starts a Server on 127.0.0.1 whose handler answers every line with
// "echo <line>" and says "bye" when a read fails while the server is closing. block,
// when a line is "block", holds the handler until it is closed (or ctx ends).
type echoServer struct {
	*Server
	addr    string
	served  chan error
	block   chan struct{}
	blocked chan struct{} // a handler has received "block"
}

func startEcho(t *testing.T, limit int) *echoServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{addr: l.Addr().String(), served: make(chan error, 1), block: make(chan struct{}), blocked: make(chan struct{}, 8)}
	e.Server = New(Options{
		MaxConnsPerIP: limit,
		Refuse:        func(c net.Conn) { WriteLine(e.log, c, "too many", time.Second) },
		Handle:        e.handle,
	})
	go func() { e.served <- e.Serve(l) }()
	return e
}

func (e *echoServer) handle(c net.Conn) {
	defer CloseLogged(e.log, c, "connection")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if e.Closing() {
				WriteLine(e.log, c, "bye", time.Second)
			}
			return
		}
		line = strings.TrimSpace(line)
		if line == "stuck" {
			e.blocked <- struct{}{}
			ignoreWake(c, r)
			return
		}
		if line == "block" {
			e.blocked <- struct{}{}
			select {
			case <-e.block:
			case <-e.Context().Done():
			}
			return
		}
		WriteLine(e.log, c, "echo "+line, time.Second)
	}
}

// ignoreWake reads on, clearing the deadline each time it is woken: only closing the
// connection ends it.
func ignoreWake(c net.Conn, r *bufio.Reader) {
	for range 1000 {
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			return
		}
		if _, err := r.ReadString('\n'); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return
			}
		}
	}
}

type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &client{c: c, r: bufio.NewReader(c)}
}

func (c *client) send(t *testing.T, line string) {
	t.Helper()
	if _, err := c.c.Write([]byte(line + "\r\n")); err != nil {
		t.Fatal(err)
	}
}

func (c *client) expect(t *testing.T, want string) {
	t.Helper()
	got, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read, want %q: %v", want, err)
	}
	if got = strings.TrimSpace(got); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func (c *client) expectEOF(t *testing.T) {
	t.Helper()
	if got, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("got %q, want the connection closed", got)
	}
}

func shutdown(t *testing.T, e *echoServer, ctx context.Context) error {
	t.Helper()
	err := e.Shutdown(ctx)
	if serr := <-e.served; serr != nil {
		t.Errorf("Serve after Shutdown: %v", serr)
	}
	return err
}

func TestPerIPLimitRefuses(t *testing.T) {
	e := startEcho(t, 2)
	a, b := dial(t, e.addr), dial(t, e.addr)
	a.send(t, "a")
	a.expect(t, "echo a")
	b.send(t, "b")
	b.expect(t, "echo b") // both are admitted and counted now
	c := dial(t, e.addr)
	c.expect(t, "too many")
	c.expectEOF(t)

	// A closed connection frees its slot: the handler's return releases it.
	if err := a.c.Close(); err != nil {
		t.Fatal(err)
	}
	var admitted bool
	for range 200 { // the release follows the close asynchronously
		d := dial(t, e.addr)
		d.send(t, "d")
		got, err := d.r.ReadString('\n')
		if err == nil && strings.TrimSpace(got) == "echo d" {
			admitted = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !admitted {
		t.Fatal("a freed slot is never reused")
	}
	if err := shutdown(t, e, context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownWakesIdleAndWaits(t *testing.T) {
	e := startEcho(t, 10)
	idle, busy := dial(t, e.addr), dial(t, e.addr)
	idle.send(t, "x")
	idle.expect(t, "echo x")
	busy.send(t, "block")
	<-e.blocked

	errc := make(chan error, 1)
	go func() { errc <- shutdown(t, e, context.Background()) }()
	idle.expect(t, "bye") // woken from its read, it sees Closing
	idle.expectEOF(t)
	select {
	case err := <-errc:
		t.Fatalf("Shutdown returned %v while a handler was busy", err)
	default:
	}
	if !e.Closing() {
		t.Fatal("Closing is false during Shutdown")
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Error("a connection is accepted after Shutdown began")
	}
	close(e.block) // the busy handler finishes
	if err := <-errc; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	busy.expectEOF(t)
	if e.Context().Err() == nil {
		t.Fatal("Context is not cancelled after Shutdown")
	}
}

func TestShutdownForcesOnContextEnd(t *testing.T) {
	e := startEcho(t, 10)
	busy := dial(t, e.addr) // ends only when Context is cancelled
	busy.send(t, "block")
	<-e.blocked
	stuck := dial(t, e.addr) // ignores the wake: only the forced close ends it
	stuck.send(t, "stuck")
	<-e.blocked

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- shutdown(t, e, ctx) }()
	select {
	case err := <-errc:
		t.Fatalf("Shutdown returned %v before its context ended", err)
	default:
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	busy.expectEOF(t)
	stuck.expectEOF(t)
}

func TestServeAfterShutdown(t *testing.T) {
	s := New(Options{MaxConnsPerIP: 1, Handle: func(c net.Conn) { _ = c.Close() }})
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("listener still open after Serve refused it: %v", err)
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	wg.Go(func() { Sleep(ctx, time.Hour) }) // returns because ctx has ended
	wg.Go(func() { Sleep(context.Background(), 0) })
	wg.Wait()
}
