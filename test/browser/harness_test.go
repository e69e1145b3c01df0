package browser

// The process side of the browser tests: build the binary once, run one node per spec on
// loopback ports with a temporary data directory, create the fixture accounts through the
// CLI, run the spec with node and report what it printed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
	dir, err := os.MkdirTemp("", "mailgrid-browser-")
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
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// require fails in CI and skips elsewhere: a laptop may lack chromium, CI must not.
func require(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf(format, args...) + " (make test-deps installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// prerequisites checks node, Debian's chromium and the npm packages; it returns node's path.
func prerequisites(t *testing.T) string {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	require(t, err == nil, "node is not installed: %v", err)
	_, err = os.Stat(chromium)
	require(t, err == nil, "Debian chromium is not installed at %s: %v", chromium, err)
	_, err = os.Stat("node_modules/playwright-core/package.json")
	require(t, err == nil, "test/browser/node_modules lacks playwright-core (npm ci in test/browser): %v", err)
	_, err = os.Stat(filepath.Join(assetsDir(t), "htmx.org/dist/htmx.min.js"))
	require(t, err == nil, "web/node_modules lacks htmx (npm ci in web): %v", err)
	return nodeBin
}

// chromium is Debian's browser; no tool ever downloads one.
const chromium = "/usr/bin/chromium"

func assetsDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../web/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// freePorts returns n distinct loopback addresses, free a moment ago, outside the
// ephemeral port range (testkit/ports).
func freePorts(t *testing.T, n int) []string { return ports.Free(t, n) }

// node is one running mailgrid process.
type node struct {
	t          *testing.T
	hostname   string
	configFile string
	addr       map[string]string // listener name -> host:port
	adminPass  string

	mu     sync.Mutex
	out    bytes.Buffer
	cmd    *exec.Cmd
	exited chan struct{}
}

func (n *node) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out.Write(p)
}

func (n *node) output() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.out.String()
}

// listeners are the configuration keys of [listen], in the order of freePorts.
var listeners = []string{"smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "managesieve"}

// startNode configures and starts a node and waits for all its listeners. The spec's
// own configuration extra (specs/NAME.toml), when it exists, is appended, with
// {{HTTP_ADDR}} replaced by the node's HTTP address and {{SPARE_ADDR}} by a spare
// loopback address nothing listens on: the spec may serve a peer there (a local SMS
// gateway, say) that the node's configuration names. The spare address reaches the spec
// as SPARE_ADDR in its environment (set for the test with t.Setenv, which the spec's
// process inherits).
//
// A start that fails because one of the node's ports was taken in the meantime (ports.Free's
// ports were free when picked, not reserved, and test processes of other packages pick
// from the same range) is tried again with other ports, at most twice.
func startNode(t *testing.T, extra string) *node {
	t.Helper()
	for attempt := 0; ; attempt++ {
		n, err := tryStartNode(t, extra)
		if err == nil {
			return n
		}
		if attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("%v\nstarting the node again on other ports", err)
	}
}

// tryStartNode is one attempt of startNode.
func tryStartNode(t *testing.T, extra string) (*node, error) {
	t.Helper()
	dir := t.TempDir()
	n := &node{t: t, hostname: "mail.browser.test", addr: map[string]string{}, adminPass: "admin-browser-pw-1"}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "data = %q\nhostname = %q\n[listen]\n", filepath.Join(dir, "data"), n.hostname)
	addrs := freePorts(t, len(listeners)+1)
	for i, p := range addrs[:len(listeners)] {
		n.addr[listeners[i]] = p
		fmt.Fprintf(&cfg, "%s = %q\n", listeners[i], p)
	}
	spare := addrs[len(listeners)]
	t.Setenv("SPARE_ADDR", spare)
	// A DNS server of our own: lookups of the test domains answer at once.
	fmt.Fprintf(&cfg, "[dns]\nservers = [%q]\n[http]\nassets_dir = %q\n[log]\nlevel = \"debug\"\n",
		dnsserver.Start(t).Addr(), assetsDir(t))
	if b, err := os.ReadFile(extra); err == nil {
		cfg.WriteString(strings.NewReplacer("{{HTTP_ADDR}}", n.addr["http"], "{{SPARE_ADDR}}", spare).Replace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	n.configFile = filepath.Join(dir, "mailgrid.toml")
	if err := os.WriteFile(n.configFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(binary, "serve", "--config", n.configFile)
	n.cmd.Env = append(os.Environ(), "MAILGRID_ADMIN_PASSWORD="+n.adminPass)
	n.cmd.Stdout, n.cmd.Stderr = n, n
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(n.stop)
	for _, l := range listeners {
		if err := n.waitAddr(n.addr[l]); err != nil {
			return nil, err
		}
	}
	select {
	case <-n.exited: // another process may hold a port the node could not bind
		return nil, fmt.Errorf("mailgrid exited during start:\n%s", n.output())
	default:
		return n, nil
	}
}

// waitAddr waits (bounded) until addr accepts connections.
func (n *node) waitAddr(addr string) error {
	for i := 0; i < 300; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		select {
		case <-n.exited:
			return fmt.Errorf("mailgrid exited during start:\n%s", n.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("mailgrid did not listen on %s:\n%s", addr, n.output())
}

func (n *node) stop() {
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return
	}
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// cli runs a mailgrid subcommand against the node's configuration.
func (n *node) cli(stdin string, args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--config", n.configFile}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		n.t.Fatalf("mailgrid %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String()
}
