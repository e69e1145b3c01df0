package filtertest

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/filter/clamd"
)

// ClamdPattern is a byte string the test signature ClamdSignature matches. Debian ships
// no signature database and none can be downloaded here, so the test writes its own
// extended signature (.ndb "Name:TargetType:Offset:HexSignature"; target 0 = any file,
// offset * = anywhere).
const (
	ClamdPattern   = "MAILGRID-CLAMD-TEST-PATTERN-5f0c2a9e"
	ClamdSignature = "MailgridTest.Sig"
)

// Clamd is a running clamd.
type Clamd struct {
	Socket string // its unix socket
	d      *daemon
}

// Stop stops clamd now (to test the failure policy); the test's cleanup is then a no-op.
func (c *Clamd) Stop(t testing.TB) { c.d.stop(t) }

// Client returns a client for it.
func (c *Clamd) Client(t testing.TB, timeout time.Duration) *clamd.Client {
	t.Helper()
	cl, err := clamd.New(clamd.Config{Network: "unix", Address: c.Socket, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// StartClamd starts clamd with the test signature on a unix socket and waits until it
// answers PING.
func StartClamd(t testing.TB) *Clamd {
	t.Helper()
	bin := find(t, "clamd", "clamav-daemon", "/usr/sbin/clamd", "/usr/local/sbin/clamd")
	dir, err := os.MkdirTemp("", "clamd") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	db, tmp := filepath.Join(dir, "db"), filepath.Join(dir, "tmp")
	for _, p := range []string{db, tmp} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(db, "mailgrid-test.ndb"),
		fmt.Sprintf("%s:0:*:%s\n", ClamdSignature, hex.EncodeToString([]byte(ClamdPattern))))
	c := &Clamd{Socket: filepath.Join(dir, "clamd.sock")}
	conf := filepath.Join(dir, "clamd.conf")
	writeFile(t, conf, fmt.Sprintf("Foreground yes\nLocalSocket %s\nDatabaseDirectory %s\nTemporaryDirectory %s\nLogFile %s\n",
		c.Socket, db, tmp, filepath.Join(dir, "clamd.log")))
	c.d = &daemon{name: "clamd", dir: dir, logs: []string{filepath.Join(dir, "clamd.log")}}
	start(t, c.d, exec.Command(bin, "--config-file="+conf))
	cl := c.Client(t, time.Second)
	c.d.waitReady(t, func() error { return cl.Ping(context.Background()) })
	return c
}
