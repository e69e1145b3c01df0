// Package filtertest starts the real filter servers the mailet tests run against:
// ClamAV's clamd (Debian clamav-daemon) with a test signature, and rspamd (Debian
// rspamd) with a hermetic configuration. Each is started per test in a temporary
// directory, listens on loopback or a unix socket only, and is stopped when the test
// ends. A missing binary skips the test, except under CI=true where it fails it.
//
// The start-up recipes are those of the scanner packages' own tests
// (internal/filter/clamd/daemon_test.go, internal/filter/rspamd/daemon_test.go), made
// importable here for tests that exercise the scanners through the mailets.
package filtertest

import (
	"errors"
	"mailgrid/internal/testkit/ports"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// daemon is one started server process.
type daemon struct {
	name    string
	dir     string
	logs    []string // files to show when it fails to start
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited; waitErr is then set
	waitErr error
}

// find returns a binary's path, looking in PATH then in the given places.
func find(t testing.TB, bin, pkg string, places ...string) string {
	t.Helper()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	for _, p := range places {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (Debian package %s; scripts/test-deps.sh installs it)", bin, pkg)
	}
	t.Skipf("%s not found (install %s)", bin, pkg)
	return ""
}

// start runs cmd with its output in dir/name.out and stops it when the test ends.
func start(t testing.TB, d *daemon, cmd *exec.Cmd) {
	t.Helper()
	out, err := os.Create(filepath.Join(d.dir, d.name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := out.Close(); err != nil { // the child keeps its own descriptor
			t.Error(err)
		}
	}()
	d.logs = append(d.logs, out.Name())
	d.cmd, d.exited = cmd, make(chan struct{})
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its workers too, for a last-resort kill
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", d.name, err)
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })
}

// waitReady polls ready (bounded: 600 tries, 100 ms apart).
func (d *daemon) waitReady(t testing.TB, ready func() error) {
	t.Helper()
	var err error
	for range 600 {
		select {
		case <-d.exited:
			t.Fatalf("%s exited while starting: %v\n%s", d.name, d.waitErr, d.log())
		default:
		}
		if err = ready(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready: %v\n%s", d.name, err, d.log())
}

// stop ends the process with SIGTERM, and its process group with SIGKILL if it has not
// exited within 10 s. Idempotent.
func (d *daemon) stop(t testing.TB) {
	t.Helper()
	select {
	case <-d.exited:
		return
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signal %s: %v", d.name, err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Errorf("kill %s: %v", d.name, err)
		}
		<-d.exited
	}
}

func (d *daemon) log() string {
	var s string
	for _, name := range d.logs {
		b, err := os.ReadFile(name)
		if err != nil {
			b = []byte("(" + err.Error() + ")")
		}
		s += "--- " + name + "\n" + string(b)
	}
	return s
}

// freeAddr returns an address outside the ephemeral range (testkit/ports): a port probed
// with :0 can be taken by a client socket before the daemon binds it.
func freeAddr(t testing.TB) string {
	t.Helper()
	return ports.Free(t, 1)[0]
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
