package clamd

import (
	"context"
	"encoding/hex"
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
)

// testPattern is the byte string the test signature matches. Debian's clamav-daemon ships
// no signature database and none can be downloaded here, so the test writes its own:
// an extended signature (.ndb, "Name:TargetType:Offset:HexSignature"; target 0 = any
// file, offset * = anywhere).
const (
	testPattern   = "MAILGRID-CLAMD-TEST-PATTERN-5f0c2a9e"
	testSignature = "MailgridTest.Sig"
	streamMax     = 1 << 20 // the daemon's StreamMaxLength
)

// daemon is a clamd started by a test, listening on a unix socket and a loopback TCP port.
type daemon struct {
	dir, sock, tcp string
	cmd            *exec.Cmd
	exited         chan struct{} // closed when clamd has exited; waitErr is then set
	waitErr        error
}

// findClamd returns clamd's path; Debian installs it in /usr/sbin, often not in PATH.
func findClamd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("clamd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/clamd", "/usr/local/sbin/clamd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("clamd not found (Debian package clamav-daemon; scripts/test-deps.sh installs it)")
	}
	t.Skip("clamd not found (install clamav-daemon)")
	return ""
}

// startClamd starts a clamd with a temporary configuration and the test signature, waits
// until it answers PING, and stops it when the test ends.
func startClamd(t *testing.T) *daemon {
	t.Helper()
	bin := findClamd(t)
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	d := &daemon{dir: dir, sock: filepath.Join(dir, "clamd.sock"), exited: make(chan struct{})}
	port := freePort(t)
	d.tcp = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	db := filepath.Join(dir, "db")
	tmp := filepath.Join(dir, "tmp")
	for _, p := range []string{db, tmp} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sig := fmt.Sprintf("%s:0:*:%s\n", testSignature, hex.EncodeToString([]byte(testPattern)))
	writeFile(t, filepath.Join(db, "mailgrid-test.ndb"), sig)
	conf := fmt.Sprintf(`Foreground yes
LocalSocket %s
TCPSocket %d
TCPAddr 127.0.0.1
DatabaseDirectory %s
TemporaryDirectory %s
StreamMaxLength %d
LogFile %s
`, d.sock, port, db, tmp, streamMax, filepath.Join(dir, "clamd.log"))
	confPath := filepath.Join(dir, "clamd.conf")
	writeFile(t, confPath, conf)

	out, err := os.Create(filepath.Join(dir, "clamd.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := out.Close(); err != nil { // the child keeps its own descriptor
			t.Error(err)
		}
	}()
	d.cmd = exec.Command(bin, "--config-file="+confPath)
	d.cmd.Stdout, d.cmd.Stderr = out, out
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start clamd: %v", err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })
	d.waitReady(t)
	return d
}

// waitReady polls PING (bounded: 300 tries, 100 ms apart).
func (d *daemon) waitReady(t *testing.T) {
	t.Helper()
	c := d.client(t, "unix", Config{Timeout: time.Second})
	var err error
	for range 300 {
		select {
		case <-d.exited:
			t.Fatalf("clamd exited while starting: %v\n%s", d.waitErr, d.log())
		default:
		}
		if err = c.Ping(context.Background()); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("clamd did not answer PING: %v\n%s", err, d.log())
}

// stop ends clamd with SIGTERM (SIGKILL if it does not exit within 10 s). Idempotent.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	select {
	case <-d.exited:
		return
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signal clamd: %v", err)
	}
	select {
	case <-d.exited:
		if d.waitErr != nil {
			t.Logf("clamd exited: %v", d.waitErr)
		}
	case <-time.After(10 * time.Second):
		if err := d.cmd.Process.Kill(); err != nil {
			t.Errorf("kill clamd: %v", err)
		}
		<-d.exited
	}
}

func (d *daemon) client(t *testing.T, network string, cfg Config) *Client {
	t.Helper()
	cfg.Network, cfg.Address = network, d.sock
	if network == "tcp" {
		cfg.Address = d.tcp
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// log returns clamd's log file and its standard output and error.
func (d *daemon) log() string {
	var s string
	for _, name := range []string{"clamd.log", "clamd.out"} {
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
