package e2e

// Helpers for the cluster tests: nodes sharing a PostgreSQL directory, starting several
// processes at once, an SMTP "black hole", and Python imaplib scripts for IDLE and flags.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clusterHostname is the mail name every cluster node shares (EHLO, admin@HOSTNAME).
const clusterHostname = "mail.cluster.test"

// NewClusterNode writes the configuration of a cluster node named name on the directory
// dirDSN; o.Extra may add more TOML (it must not repeat [cluster] or [node]).
func NewClusterNode(t *testing.T, name, dirDSN string, o NodeOptions) *Node {
	t.Helper()
	o.Hostname = clusterHostname
	o.Extra = fmt.Sprintf("[cluster]\ndirectory = %q\nheartbeat = \"1s\"\ndown_after = \"5s\"\n[node]\nname = %q\n%s",
		dirDSN, name, o.Extra)
	return NewNode(t, name, o)
}

// StartAll launches every node at once (their first starts race on the shared
// directory), then waits for each MX listener.
func StartAll(t *testing.T, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		n.launch()
	}
	for _, n := range nodes {
		n.waitListening()
	}
}

// launch starts `mailgrid serve` without waiting (Start's first half).
func (n *Node) launch() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	cmd := exec.Command(binary, "serve", "--config", n.ConfigFile)
	cmd.Env = append(os.Environ(), "MAILGRID_ADMIN_PASSWORD="+n.AdminPass)
	n.out = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: n.out, mu: &n.mu}, &lockedWriter{w: n.out, mu: &n.mu}
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd = cmd
	exited := make(chan struct{})
	n.exited = exited
	go func() { _ = cmd.Wait(); close(exited) }()
}

// waitListening waits until the mail listeners of a launched node accept (Start's second
// half); a cluster node serves no HTTP yet.
func (n *Node) waitListening() {
	n.t.Helper()
	n.await(false)
}

// blackHole is a TCP server that accepts connections and never says a word: an SMTP
// client connected to it waits for the 220 greeting (RFC 5321 4.5.3.2.1: 5 minutes).
type blackHole struct {
	l     net.Listener
	conns atomic.Int64
	mu    sync.Mutex
	held  []net.Conn
}

func startBlackHole(t *testing.T) *blackHole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{l: l}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.held = append(b.held, c)
			b.mu.Unlock()
			b.conns.Add(1)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.held {
			_ = c.Close()
		}
	})
	return b
}

// port is the black hole's TCP port.
func (b *blackHole) port() int { return b.l.Addr().(*net.TCPAddr).Port }

// portOf is the numeric port of a "host:port" address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscan(p, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// imapIdleScript logs in over IMAPS, selects INBOX, prints "IDLING" once the server
// accepted IDLE (RFC 2177), then waits (20 s at most) for an untagged EXISTS pushed by the
// server, prints it, and ends IDLE with DONE.
const imapIdleScript = `
import imaplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
m.login(sys.argv[2], sys.argv[3])
typ, data = m.select("INBOX")
print("SELECTED", data[0].decode(), flush=True)
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
line = m.readline()
if not line.startswith(b"+"):
    sys.exit("IDLE refused: %r" % line)
print("IDLING", flush=True)
m.sock.settimeout(20)
while True:
    line = m.readline()
    if not line:
        sys.exit("connection closed while idling")
    if line.startswith(b"* ") and line.rstrip().endswith(b"EXISTS"):
        print("PUSHED", line.decode().strip(), flush=True)
        break
m.send(b"DONE\r\n")
while not m.readline().startswith(tag):
    pass
m.logout()
`

// idleUntilExists runs imapIdleScript against addr; once the session idles it calls
// trigger, then returns the pushed "* N EXISTS" line. Everything is bounded.
func idleUntilExists(t *testing.T, addr, user, pass string, trigger func()) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-c", imapIdleScript, addr, user, pass)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var seen []string
	pushed := ""
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if line == "IDLING" {
			trigger()
		}
		if strings.HasPrefix(line, "PUSHED ") {
			pushed = strings.TrimPrefix(line, "PUSHED ")
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil || pushed == "" {
		t.Fatalf("IMAP IDLE: %v\nstdout: %s\nstderr: %s", err, strings.Join(seen, "\n"), stderr.String())
	}
	return pushed
}

// imapFlagsScript logs in over IMAPS and, for "store", adds the flag argv[5] to UID argv[4]
// of INBOX; for "fetch", prints "FLAGS <uid> <flags>" for every message.
const imapFlagsScript = `
import imaplib, ssl, sys, re
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
m.login(sys.argv[2], sys.argv[3])
m.select("INBOX")
if sys.argv[4] == "store":
    typ, data = m.uid("STORE", sys.argv[5], "+FLAGS", "(%s)" % sys.argv[6])
    if typ != "OK":
        sys.exit("STORE: %r" % data)
else:
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    for item in data:
        if item is None:
            continue
        s = item.decode() if isinstance(item, bytes) else item[0].decode()
        uid = re.search(r"UID (\d+)", s).group(1)
        flags = re.search(r"FLAGS \(([^)]*)\)", s).group(1)
        print("FLAGS", uid, flags)
m.logout()
`

// imapFlags runs imapFlagsScript with args after the address and login.
func imapFlags(t *testing.T, addr, user, pass string, args ...string) string {
	t.Helper()
	out, err := exec.Command("python3", append([]string{"-c", imapFlagsScript, addr, user, pass}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// runPython runs a Python script with arguments and returns its combined output.
func runPython(script string, args ...string) (string, error) {
	out, err := exec.Command("python3", append([]string{"-c", script}, args...)...).CombinedOutput()
	return string(out), err
}
