package imapserver_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"mailgrid/internal/imapserver"
)

// idleClientsEnv names the server's address for TestIdleClientsHelper, the child
// process BenchmarkIdleMemoryServer runs its clients in.
const idleClientsEnv = "IMAP_IDLE_CLIENTS_ADDR"

// BenchmarkIdleMemoryServer is BenchmarkIdleMemory with the clients in a child process
// (this test binary again, TestIdleClientsHelper), so what it reports is the server's
// alone: heap and goroutine stacks per connection in IDLE (logged in over STARTTLS, INBOX
// selected), goroutines per connection, and with IDLE_HEAP_PROFILE=file a heap profile
// sampling every allocation made while the connections open.
//
//	go test -run XXX -bench IdleMemoryServer -benchtime 1x ./internal/imapserver
func BenchmarkIdleMemoryServer(b *testing.B) {
	const conns = 300
	w := newWorld(b)
	for range 20 {
		w.deliver(b, w.user, "INBOX", "Subject: x\n\nbody\n")
	}
	_, addr := w.server(b, func(o *imapserver.Options) { o.MaxConnsPerIP = conns + 10 })
	profile := os.Getenv("IDLE_HEAP_PROFILE")
	if profile != "" {
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		defer func() { runtime.MemProfileRate = old }()
	}
	for b.Loop() {
		before, goBefore := memInUse(), runtime.NumGoroutine()
		stackBefore := stackInUse()
		stop := startIdleClients(b, addr, conns)
		after, goAfter := memInUse(), runtime.NumGoroutine()
		b.ReportMetric(float64(after-before)/conns/1024, "KiB/conn")
		b.ReportMetric(float64(stackInUse()-stackBefore)/conns/1024, "stack-KiB/conn")
		b.ReportMetric(float64(goAfter-goBefore)/conns, "goroutines/conn")
		if profile != "" {
			writeHeapProfile(b, profile)
		}
		stop()
	}
}

// startIdleClients runs n idling clients of addr in a child process and returns once
// they all idle; the returned func ends them (DONE, then close) and waits for the child.
func startIdleClients(b *testing.B, addr string, n int) func() {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleClientsEnv+"="+addr, "IMAP_IDLE_CLIENTS_N="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	for {
		l, err := out.ReadString('\n')
		if err != nil {
			_ = cmd.Process.Kill()
			b.Fatalf("idle clients: %v (%s)", err, cmd.Wait())
		}
		if l == "idling\n" {
			break
		}
	}
	return func() {
		b.Helper()
		closeT(b, stdin)
		_, _ = io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("idle clients: %v", err)
		}
	}
}

// TestIdleClientsHelper is BenchmarkIdleMemoryServer's child process; run directly it
// does nothing. It opens IMAP_IDLE_CLIENTS_N connections to IMAP_IDLE_CLIENTS_ADDR, each
// logged in with INBOX selected and in IDLE, prints "idling", and when its standard input
// closes ends each IDLE with DONE.
func TestIdleClientsHelper(t *testing.T) {
	addr := os.Getenv(idleClientsEnv)
	if addr == "" {
		t.Skip("only run as BenchmarkIdleMemoryServer's child process")
	}
	n, err := strconv.Atoi(os.Getenv("IMAP_IDLE_CLIENTS_N"))
	if err != nil {
		t.Fatal(err)
	}
	cs := make([]*client, n)
	for i := range cs {
		c := login(t, addr)
		c.ok("SELECT INBOX")
		c.send("i IDLE\r\n")
		c.expectPrefix("+ ")
		cs[i] = c
	}
	fmt.Println("idling")
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.send("DONE\r\n")
		if _, st := c.until("i"); !strings.HasPrefix(st, "OK") {
			t.Errorf("DONE: %s", st)
		}
		closeT(t, c.conn)
	}
}
