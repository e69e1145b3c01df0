package rspamd

import (
	"context"
	"errors"
	"fmt"
	"mailgrid/internal/testkit/ports"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"mailgrid/internal/testkit/dnsserver"
)

// daemon is an rspamd started by a test: its own configuration, database, run and log
// directories in a temporary directory, its normal worker on a free loopback port, and
// its DNS pointed at a loopback test DNS server (which answers NXDOMAIN), so nothing
// leaves the machine and any system-wide rspamd is neither used nor disturbed.
type daemon struct {
	dir, url string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when rspamd has exited; waitErr is then set
	waitErr  error
}

// rspamdConf is the top-level configuration. It pulls in the packaged rules from
// $CONFDIR (/etc/rspamd) but none of its local.d/override.d: LOCAL_CONFDIR is the empty
// temporary directory. Two settings keep the start fast: hyperscan is off (no regexp
// database compilation) and url_tld names a small suffix list instead of the 9,600-entry
// public suffix list, whose compilation takes about ten seconds.
const rspamdConf = `.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    filters = "chartable,dkim,regexp,fuzzy_check";
    disable_hyperscan = true;
    url_tld = "%[1]s/tld.dat";
    tempdir = "$RUNDIR";
    control_socket = "$DBDIR/rspamd.sock mode=0600";
    allow_raw_input = true;
    explicit_modules = ["settings", "bayes_expiry"];
    dns {
        nameserver = ["%[2]s"];
        timeout = 1s;
        retransmits = 1;
    }
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "info";
}
worker "normal" {
    bind_socket = "%[3]s";
    count = 1;
    .include "$CONFDIR/worker-normal.inc"
}
`

func findRspamd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("rspamd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/bin/rspamd", "/usr/sbin/rspamd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("rspamd not found (Debian package rspamd; scripts/test-deps.sh installs it)")
	}
	t.Skip("rspamd not found (install rspamd)")
	return ""
}

// startRspamd starts an rspamd, waits until it answers /ping, and stops it when the test
// ends.
func startRspamd(t *testing.T) *daemon {
	t.Helper()
	bin := findRspamd(t)
	dns := dnsserver.Start(t)
	dir := t.TempDir()
	for _, sub := range []string{"db", "run", "log", "local"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "tld.dat"), "com\norg\nnet\nexample\ntest\n")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	conf := filepath.Join(dir, "rspamd.conf")
	writeFile(t, conf, fmt.Sprintf(rspamdConf, dir, dns.Addr(), addr))

	args := []string{"-f", "-c", conf,
		"--var=DBDIR=" + filepath.Join(dir, "db"), "--var=RUNDIR=" + filepath.Join(dir, "run"),
		"--var=LOGDIR=" + filepath.Join(dir, "log"), "--var=LOCAL_CONFDIR=" + filepath.Join(dir, "local")}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root", "-g", "root") // rspamd refuses to run as root otherwise
	}
	out, err := os.Create(filepath.Join(dir, "rspamd.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := out.Close(); err != nil { // the child keeps its own descriptor
			t.Error(err)
		}
	}()
	d := &daemon{dir: dir, url: "http://" + addr, exited: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = out, out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers too, for a last-resort kill
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start rspamd: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })
	d.waitReady(t)
	return d
}

// waitReady polls /ping (bounded: 600 tries, 100 ms apart).
func (d *daemon) waitReady(t *testing.T) {
	t.Helper()
	c := d.client(t, Config{Timeout: time.Second})
	defer c.Close()
	var err error
	for range 600 {
		select {
		case <-d.exited:
			t.Fatalf("rspamd exited while starting: %v\n%s", d.waitErr, d.log())
		default:
		}
		if err = c.Ping(context.Background()); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("rspamd did not answer /ping: %v\n%s", err, d.log())
}

// stop ends rspamd with SIGTERM to its main process, which stops its workers; if it has
// not exited within 10 s its whole process group is killed. Idempotent.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	select {
	case <-d.exited:
		return
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signal rspamd: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill rspamd: %v", err)
		}
		<-d.exited
	}
}

func (d *daemon) client(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = d.url
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// log returns rspamd's log and its standard output and error.
func (d *daemon) log() string {
	var s string
	for _, name := range []string{"log/rspamd.log", "rspamd.out"} {
		b, err := os.ReadFile(filepath.Join(d.dir, name))
		if err != nil {
			b = []byte("(" + err.Error() + ")")
		}
		s += "--- " + name + "\n" + string(b)
	}
	return s
}

// freePort returns a port outside the ephemeral range (testkit/ports): a port probed with
// :0 can be taken by a client socket before the daemon binds it.
func freePort(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(ports.Free(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
