package filtertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/filter/rspamd"
	"mailgrid/internal/testkit/dnsserver"
)

// GTUBE is the Generic Test for Unsolicited Bulk Email: rspamd rejects a message
// containing it.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// rspamdConf is rspamd's top-level configuration, as in internal/filter/rspamd's tests:
// the packaged rules from $CONFDIR but no local.d/override.d, hyperscan off and a small
// TLD list (both keep the start fast), DNS pointed at a loopback test server.
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

// rspamdProxy is the proxy worker in milter mode (rspamd's milter support: the proxy
// scans the message itself, self_scan, and answers in the milter protocol).
const rspamdProxy = `
worker "rspamd_proxy" {
    bind_socket = "%[1]s";
    milter = yes;
    timeout = 30s;
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
    count = 1;
}
`

// Rspamd is a running rspamd.
type Rspamd struct {
	URL    string // base URL of its normal worker
	Milter string // host:port of its proxy worker in milter mode (StartRspamdMilter)
}

// Client returns a client for it.
func (r *Rspamd) Client(t testing.TB, timeout time.Duration) *rspamd.Client {
	t.Helper()
	c, err := rspamd.New(rspamd.Config{URL: r.URL, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// StartRspamd starts rspamd and waits until it answers /ping.
func StartRspamd(t testing.TB) *Rspamd {
	t.Helper()
	return startRspamd(t, false)
}

// StartRspamdMilter starts rspamd with a proxy worker in milter mode too (Rspamd.Milter)
// and waits until both answer.
func StartRspamdMilter(t testing.TB) *Rspamd {
	t.Helper()
	return startRspamd(t, true)
}

func startRspamd(t testing.TB, milter bool) *Rspamd {
	t.Helper()
	bin := find(t, "rspamd", "rspamd", "/usr/bin/rspamd", "/usr/sbin/rspamd")
	dns := dnsserver.Start(t)
	dir := t.TempDir()
	for _, sub := range []string{"db", "run", "log", "local"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "tld.dat"), "com\norg\nnet\nexample\ntest\n")
	addr := freeAddr(t)
	conf := filepath.Join(dir, "rspamd.conf")
	text := fmt.Sprintf(rspamdConf, dir, dns.Addr(), addr)
	var milterAddr string
	if milter {
		milterAddr = freeAddr(t)
		text += fmt.Sprintf(rspamdProxy, milterAddr)
		// rspamd's extended headers (X-Spamd-Result, X-Rspamd-Queue-Id, ...) on every
		// message, loopback clients included: what a milter adds is visible.
		if err := os.MkdirAll(filepath.Join(dir, "local", "local.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "local", "local.d", "milter_headers.conf"),
			"extended_spam_headers = true;\nskip_local = false;\nskip_authenticated = false;\n")
	}
	writeFile(t, conf, text)
	args := []string{"-f", "-c", conf,
		"--var=DBDIR=" + filepath.Join(dir, "db"), "--var=RUNDIR=" + filepath.Join(dir, "run"),
		"--var=LOGDIR=" + filepath.Join(dir, "log"), "--var=LOCAL_CONFDIR=" + filepath.Join(dir, "local")}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root", "-g", "root") // rspamd refuses to run as root otherwise
	}
	d := &daemon{name: "rspamd", dir: dir, logs: []string{filepath.Join(dir, "log", "rspamd.log")}}
	start(t, d, exec.Command(bin, args...))
	r := &Rspamd{URL: "http://" + addr, Milter: milterAddr}
	c := r.Client(t, time.Second)
	d.waitReady(t, func() error { return c.Ping(context.Background()) })
	if milter {
		d.waitReady(t, func() error {
			c, err := net.DialTimeout("tcp", milterAddr, time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		})
	}
	return r
}
