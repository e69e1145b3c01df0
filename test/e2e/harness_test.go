// Package e2e tests the built mailgrid binary as an operator runs it: real processes,
// real sockets, real clients (swaks, Python smtplib), kill -9 and restarts, and a real DNS
// server on loopback for outbound delivery between two instances.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/testkit/dnsserver"
	"mailgrid/internal/testkit/ports"
)

// binary is the mailgrid binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailgrid-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "mailgrid")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/mailgrid")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool finds an external program: missing is a skip on a laptop, a failure in CI.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (make test-deps installs it): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// freePorts returns n distinct loopback addresses, free a moment ago, outside the
// ephemeral port range (testkit/ports).
func freePorts(t *testing.T, n int) []string { return ports.Free(t, n) }

// Node is one mailgrid process with its own data directory and ports.
type Node struct {
	t           *testing.T
	Name        string
	Hostname    string
	Dir         string
	ConfigFile  string
	SMTP        string // MX listener
	Submission  string // STARTTLS
	Submissions string // implicit TLS
	POP3        string // STLS
	POP3S       string // implicit TLS
	IMAP        string // STARTTLS
	IMAPS       string // implicit TLS
	HTTP        string // JSON API and console
	ManageSieve string // RFC 5804
	AdminPass   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	out     *bytes.Buffer
	exited  chan struct{}
	started bool // Start succeeded once: its ports are the node's for good
}

// NodeOptions shape a node's configuration.
type NodeOptions struct {
	Hostname   string
	DNS        string // "host:port" of the test DNS server, "" = none
	RemotePort int    // outbound.smtp_port
	Extra      string // more TOML, appended
}

// NewNode writes a config for a fresh node; call Start to run it.
func NewNode(t *testing.T, name string, o NodeOptions) *Node {
	t.Helper()
	if o.Hostname == "" {
		o.Hostname = name + ".mailgrid.test"
	}
	dir := t.TempDir()
	n := &Node{t: t, Name: name, Hostname: o.Hostname, Dir: dir,
		AdminPass: "admin-" + name + "-pw"}
	p := freePorts(t, 9)
	n.SMTP, n.Submission, n.Submissions, n.POP3, n.POP3S = p[0], p[1], p[2], p[3], p[4]
	n.IMAP, n.IMAPS, n.HTTP, n.ManageSieve = p[5], p[6], p[7], p[8]
	if o.DNS == "" {
		// A DNS server of its own on loopback: SPF/DKIM/DMARC lookups of the test
		// domains get a quick NXDOMAIN instead of waiting on the machine's resolver.
		o.DNS = dnsserver.Start(t).Addr()
	}
	dnsServers := fmt.Sprintf("[%q]", o.DNS)
	port := o.RemotePort
	if port == 0 {
		port = 25
	}
	cfg := fmt.Sprintf(`data = %q
hostname = %q
[listen]
smtp = %q
submission = %q
submissions = %q
imap = %q
imaps = %q
pop3 = %q
pop3s = %q
http = %q
managesieve = %q
[dns]
servers = %s
[outbound]
smtp_port = %d
[log]
level = "debug"
%s
`, filepath.Join(dir, "data"), o.Hostname, n.SMTP, n.Submission, n.Submissions, n.IMAP, n.IMAPS, n.POP3, n.POP3S, n.HTTP, n.ManageSieve, dnsServers, port, o.Extra)
	n.ConfigFile = filepath.Join(dir, "mailgrid.toml")
	if err := os.WriteFile(n.ConfigFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Kill() })
	return n
}

// Start runs `mailgrid serve` and waits until every listener accepts connections.
func (n *Node) Start() {
	n.t.Helper()
	n.launch()
	n.await(true)
}

// await waits until the launched node accepts on its mail listeners, and on HTTP when
// withHTTP is set. A node's first start that
// fails because one of its ports was taken in the meantime is launched again on other
// ports, at most twice: ports.Free's ports were free when picked, not reserved, and test
// processes of other packages pick from the same range.
func (n *Node) await(withHTTP bool) {
	n.t.Helper()
	for attempt := 0; ; attempt++ {
		n.mu.Lock()
		exited := n.exited
		n.mu.Unlock()
		addrs := n.mailAddrs()
		if withHTTP {
			addrs = append(addrs, n.HTTP)
		}
		err := n.listening(exited, addrs...)
		if err == nil {
			n.started = true
			return
		}
		if n.started || attempt == 2 || !strings.Contains(n.Output(), "address already in use") {
			n.t.Fatal(err)
		}
		n.t.Logf("%v\nstarting %s again on other ports", err, n.Name)
		n.Kill()
		n.movePorts()
		n.launch()
	}
}

// movePorts gives the node new listener ports, in its fields and its config file.
func (n *Node) movePorts() {
	n.t.Helper()
	fields := []*string{&n.SMTP, &n.Submission, &n.Submissions, &n.IMAP, &n.IMAPS, &n.POP3, &n.POP3S, &n.ManageSieve, &n.HTTP}
	cfg, err := os.ReadFile(n.ConfigFile)
	if err != nil {
		n.t.Fatal(err)
	}
	s := string(cfg)
	for i, p := range freePorts(n.t, len(fields)) {
		s = strings.Replace(s, strconv.Quote(*fields[i]), strconv.Quote(p), 1)
		*fields[i] = p
	}
	if err := os.WriteFile(n.ConfigFile, []byte(s), 0o600); err != nil {
		n.t.Fatal(err)
	}
}

// mailAddrs are the node's mail protocol listeners.
func (n *Node) mailAddrs() []string {
	return []string{n.SMTP, n.Submission, n.Submissions, n.IMAP, n.IMAPS, n.POP3, n.POP3S, n.ManageSieve}
}

// listening waits (bounded) until every addr accepts connections, and fails when the
// process exits first or is gone once they all do (another process may hold a port the
// node could not bind).
func (n *Node) listening(exited <-chan struct{}, addrs ...string) error {
	for _, addr := range addrs {
		if err := n.accepting(exited, addr); err != nil {
			return err
		}
	}
	select {
	case <-exited:
		return fmt.Errorf("%s exited during start:\n%s", n.Name, n.Output())
	default:
		return nil
	}
}

// accepting waits (bounded) until addr accepts connections.
func (n *Node) accepting(exited <-chan struct{}, addr string) error {
	for i := 0; i < 300; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited during start:\n%s", n.Name, n.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not listen on %s:\n%s", n.Name, addr, n.Output())
}

// Output is what the process printed so far.
func (n *Node) Output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.out == nil {
		return ""
	}
	return n.out.String()
}

// Kill sends SIGKILL (no cleanup at all) and waits for the process to be gone.
func (n *Node) Kill() {
	n.signal(syscall.SIGKILL)
}

// Term sends SIGTERM and waits; it returns the exit error (nil for a clean exit).
func (n *Node) Term() error {
	return n.signal(syscall.SIGTERM)
}

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not exit after %v", n.Name, sig)
	}
	if cmd.ProcessState.Success() {
		return nil
	}
	return fmt.Errorf("%s: %s", n.Name, cmd.ProcessState)
}

// CLI runs a mailgrid subcommand against the node and returns stdout; it fails the test
// on a non-zero exit.
func (n *Node) CLI(stdin string, args ...string) string {
	n.t.Helper()
	out, errOut, err := n.TryCLI(stdin, args...)
	if err != nil {
		n.t.Fatalf("mailgrid %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// TryCLI runs a subcommand and returns its outputs and exit error.
func (n *Node) TryCLI(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--config", n.ConfigFile}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// JSON runs a subcommand with --json and decodes its output into v.
func (n *Node) JSON(v any, args ...string) {
	n.t.Helper()
	out := n.CLI("", append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		n.t.Fatalf("mailgrid %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// AddUser creates a domain if needed and an account with password pw.
func (n *Node) AddUser(addr, pw string) {
	n.t.Helper()
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	if _, _, err := n.TryCLI("", "domain", "show", domain); err != nil {
		n.CLI("", "domain", "add", domain)
	}
	n.CLI(pw+"\n", "user", "add", addr, "--password-stdin")
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// startAndStop runs cmd until addr accepts connections, then sends SIGTERM and returns
// everything it printed and its exit error.
func startAndStop(t *testing.T, cmd *exec.Cmd, addr string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	var mu sync.Mutex
	cmd.Stdout = &lockedWriter{w: &out, mu: &mu}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	up := false
	for i := 0; i < 300 && !up; i++ {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			up = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return "", err
	}
	err := cmd.Wait()
	mu.Lock()
	defer mu.Unlock()
	if !up && err == nil {
		err = fmt.Errorf("never listened on %s", addr)
	}
	return out.String(), err
}
