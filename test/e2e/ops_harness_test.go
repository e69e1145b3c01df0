package e2e

// Helpers for the operations tests: a private PostgreSQL server per test (initdb into a
// temporary directory, its own loopback port and socket directory) that the test may
// crash, restart, replicate and promote without touching the machine's shared server at
// 5432; SMTP senders that record every reply; and Python probes (imaplib, poplib) that
// report how IMAP and POP3 answer while a shard is down.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
)

// pgInstance is a PostgreSQL server of one test: its data directory, port and socket
// directory are private, so the test can stop it hard, restart it and fail it over.
type pgInstance struct {
	t    *testing.T
	name string
	bin  string // directory of initdb, pg_ctl, postgres, pg_basebackup
	root string // temporary directory owned by the server's OS user
	data string // data directory (root/name)
	port int

	mu      sync.Mutex
	running bool
}

// pgBinDir finds the PostgreSQL server programs (Debian keeps them out of PATH, under
// /usr/lib/postgresql/VERSION/bin); missing is a skip on a laptop, a failure in CI.
func pgBinDir(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) > pgMajor(matches[j]) })
	if len(matches) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			matches = []string{p}
		}
	}
	if len(matches) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server programs (initdb, pg_ctl) are required in CI: apt-get install postgresql")
		}
		t.Skip("PostgreSQL server programs (initdb) not installed")
	}
	return filepath.Dir(matches[0])
}

// pgMajor is the version number in /usr/lib/postgresql/VERSION/bin/initdb (0 if none).
func pgMajor(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// pgOSUser is the OS user that runs the private servers: PostgreSQL refuses to run as
// root, so a root test runs them as "postgres" (runuser); anyone else as themselves.
// It returns "" for the current user.
func pgOSUser(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		return ""
	}
	if _, err := user.Lookup("postgres"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("running as root needs the postgres OS user for a private PostgreSQL: %v", err)
		}
		t.Skipf("running as root without a postgres OS user: %v", err)
	}
	requireTool(t, "runuser")
	return "postgres"
}

// newPGInstance runs initdb for a new server named name (not started yet). The test's
// cleanup stops it (immediately) and removes its files.
func newPGInstance(t *testing.T, name string) *pgInstance {
	t.Helper()
	root, err := os.MkdirTemp("", "mailgrid-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgInstance{t: t, name: name, bin: pgBinDir(t), root: root, data: filepath.Join(root, name)}
	t.Cleanup(func() {
		p.stopIfRunning()
		_ = os.RemoveAll(root)
	})
	p.chownRoot()
	p.startWatchdog()
	p.port = portOf(t, freePorts(t, 1)[0])
	// -U postgres: the superuser has the same name whoever runs it; trust on loopback
	// and the socket only (the server listens on 127.0.0.1 and root/ alone).
	p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	p.appendConf("# the test's server: small, loopback only\nshared_buffers = 16MB\nmax_connections = 100\n" +
		"listen_addresses = '127.0.0.1'\nunix_socket_directories = '" + root + "'\n" +
		"port = " + strconv.Itoa(p.port) + "\n")
	return p
}

// startWatchdog starts a shell, in a session of its own, that waits while this test
// process lives and the temporary directory exists. If the process dies without its
// cleanup (a timeout panic, SIGKILL), it stops every server under the directory
// (pg_ctl -m immediate) and removes it, so no private PostgreSQL outlives the test.
// After a normal cleanup removed the directory it ends within a second.
func (p *pgInstance) startWatchdog() {
	p.t.Helper()
	ctl := filepath.Join(p.bin, "pg_ctl")
	if u := pgOSUser(p.t); u != "" {
		ctl = "runuser -u " + u + " -- " + ctl
	}
	script := fmt.Sprintf(`while [ -d /proc/%d ] && [ -d %q ]; do sleep 1; done
[ -d %q ] || exit 0
for pid in %q/*/postmaster.pid; do
  [ -f "$pid" ] && %s -D "$(dirname "$pid")" -m immediate stop >/dev/null 2>&1
done
rm -rf %q
`, os.Getpid(), p.root, p.root, p.root, ctl, p.root)
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("PostgreSQL watchdog: %v", err)
	}
	go func() { _ = cmd.Wait() }()
}

// chownRoot hands the temporary directory to the server's OS user.
func (p *pgInstance) chownRoot() {
	p.t.Helper()
	osUser := pgOSUser(p.t)
	if osUser == "" {
		return
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		p.t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(p.root, uid, gid); err != nil {
		p.t.Fatal(err)
	}
}

// run runs a PostgreSQL program as the server's OS user; a failure fails the test.
func (p *pgInstance) run(prog string, args ...string) string {
	p.t.Helper()
	out, err := p.try(prog, args...)
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", prog, strings.Join(args, " "), err, out, p.log())
	}
	return out
}

// try runs a PostgreSQL program as the server's OS user (bounded to 2 minutes).
func (p *pgInstance) try(prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(p.bin, prog)
	var cmd *exec.Cmd
	if u := pgOSUser(p.t); u != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", u, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = p.root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// appendConf appends lines to the server's postgresql.conf (appending keeps its owner).
func (p *pgInstance) appendConf(lines string) {
	p.t.Helper()
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		p.t.Fatal(err)
	}
	_, err = f.WriteString("\n" + lines)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		p.t.Fatal(err)
	}
}

// log is the server's log file so far (for failure messages).
func (p *pgInstance) log() string {
	b, err := os.ReadFile(filepath.Join(p.root, p.name+".log"))
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Start starts the server and waits until it accepts connections.
func (p *pgInstance) Start() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data, "-l", filepath.Join(p.root, p.name+".log"), "-w", "-t", "90", "start")
	p.mu.Lock()
	p.running = true
	p.mu.Unlock()
}

// Crash stops the server the way a power cut looks to its clients: `pg_ctl stop -m
// immediate` ends every process at once, without a checkpoint; the next start recovers
// from the WAL. Connections drop and new ones are refused.
func (p *pgInstance) Crash() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
	p.mu.Lock()
	p.running = false
	p.mu.Unlock()
}

func (p *pgInstance) stopIfRunning() {
	p.mu.Lock()
	running := p.running
	p.running = false
	p.mu.Unlock()
	if running {
		if out, err := p.try("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop"); err != nil {
			p.t.Logf("stop %s: %v\n%s", p.name, err, out)
		}
	}
}

// DSN is the connection string of database db on this server.
func (p *pgInstance) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", p.port, db)
}

// Exec runs SQL statements on database db.
func (p *pgInstance) Exec(db string, sql ...string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	for _, s := range sql {
		if _, err := c.Exec(ctx, s); err != nil {
			p.t.Fatalf("%s: %s: %v", p.name, s, err)
		}
	}
}

// Query returns the first column of the first row of a query on database db as text.
func (p *pgInstance) Query(db, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close(context.Background()) }()
	var v string
	err = c.QueryRow(ctx, sql).Scan(&v)
	return v, err
}

// Standby makes a streaming-replication standby of p, as docs/operations.md describes:
// pg_basebackup -R (standby.signal and primary_conninfo with application_name=name),
// started on its own port. It is not yet synchronous: see MakeSynchronous.
func (p *pgInstance) Standby(name string) *pgInstance {
	p.t.Helper()
	s := &pgInstance{t: p.t, name: name, bin: p.bin, root: p.root, data: filepath.Join(p.root, name)}
	s.port = portOf(p.t, freePorts(p.t, 1)[0])
	p.t.Cleanup(s.stopIfRunning) // before the primary's cleanup removes root
	conn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=%s", p.port, name)
	s.run("pg_basebackup", "-d", conn, "-D", s.data, "-X", "stream", "-R", "-c", "fast")
	// The copied postgresql.conf names the primary's port; the last setting wins.
	s.appendConf("port = " + strconv.Itoa(s.port) + "\n")
	return s
}

// MakeSynchronous makes commits on p wait for standby's flush (synchronous_standby_names)
// and waits until the standby streams as "sync".
func (p *pgInstance) MakeSynchronous(standby *pgInstance) {
	p.t.Helper()
	p.Exec("postgres", fmt.Sprintf("ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (%s)'", standby.name),
		"SELECT pg_reload_conf()")
	q := fmt.Sprintf("SELECT sync_state FROM pg_stat_replication WHERE application_name = '%s'", standby.name)
	if !waitFor(60*time.Second, func() bool { v, err := p.Query("postgres", q); return err == nil && v == "sync" }) {
		v, err := p.Query("postgres", q)
		p.t.Fatalf("standby %s not synchronous: %q %v\n%s", standby.name, v, err, standby.log())
	}
}

// Promote ends recovery on a standby: it becomes a writable primary.
func (p *pgInstance) Promote() {
	p.t.Helper()
	p.run("pg_ctl", "-D", p.data, "-w", "-t", "60", "promote")
}

// smtpLoad is a set of SMTP senders (go-smtp's client) sending numbered messages to one
// recipient as fast as the server answers, recording every outcome.
type smtpLoad struct {
	addr, rcpt, prefix string

	mu        sync.Mutex
	attempted map[string]bool
	acked     map[string]bool // 250 after DATA
	temp      map[int]int     // 4xx replies by code
	perm      []string        // 5xx replies: never allowed
	dropped   int             // connections that broke without a reply

	ackCount atomic.Int64
	tempFail atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

// startSMTPLoad starts senders goroutines; Stop ends them.
func startSMTPLoad(addr, rcpt, prefix string, senders int) *smtpLoad {
	l := &smtpLoad{addr: addr, rcpt: rcpt, prefix: prefix, attempted: map[string]bool{}, acked: map[string]bool{},
		temp: map[int]int{}, stop: make(chan struct{})}
	for s := 0; s < senders; s++ {
		l.wg.Add(1)
		go l.sender(s)
	}
	return l
}

// Stop ends the senders and waits for them.
func (l *smtpLoad) Stop() {
	close(l.stop)
	l.wg.Wait()
}

func (l *smtpLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// sender sends until Stop (bounded: 20,000 attempts), redialling after a broken
// connection and pausing briefly after a temporary failure.
func (l *smtpLoad) sender(s int) {
	defer l.wg.Done()
	var c *smtp.Client
	defer func() {
		if c != nil {
			_ = c.Close()
		}
	}()
	for i := 0; i < 20000 && !l.stopped(); i++ {
		if c == nil {
			var err error
			if c, err = smtp.Dial(l.addr); err != nil {
				c = nil
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		id := fmt.Sprintf("%s-s%d-m%d@ops.test", l.prefix, s, i)
		l.mu.Lock()
		l.attempted[id] = true
		l.mu.Unlock()
		err := sendOpsMessage(c, l.rcpt, id)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			l.mu.Lock()
			l.acked[id] = true
			l.mu.Unlock()
			l.ackCount.Add(1)
		case errors.As(err, &se) && se.Code >= 400 && se.Code < 500:
			l.mu.Lock()
			l.temp[se.Code]++
			l.mu.Unlock()
			l.tempFail.Add(1)
			if c.Reset() != nil {
				_ = c.Close()
				c = nil
			}
			time.Sleep(50 * time.Millisecond)
		case errors.As(err, &se):
			l.mu.Lock()
			l.perm = append(l.perm, fmt.Sprintf("%s: %d %s", id, se.Code, se.Message))
			l.mu.Unlock()
			if c.Reset() != nil {
				_ = c.Close()
				c = nil
			}
		default:
			l.mu.Lock()
			l.dropped++
			l.mu.Unlock()
			_ = c.Close()
			c = nil
		}
	}
}

// opsBody is the body of message id: ~4 KiB ending with a marker naming it, so a
// truncated or mixed-up message is seen.
func opsBody(rcpt, id string) string {
	return "From: load@elsewhere.test\r\nTo: " + rcpt + "\r\nSubject: ops load\r\nMessage-ID: <" + id + ">\r\n\r\n" +
		strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 60) + "END-OF-" + id + "\r\n"
}

// sendOpsMessage runs one transaction for opsBody(rcpt, id).
func sendOpsMessage(c *smtp.Client, rcpt, id string) error {
	if err := c.Mail("load@elsewhere.test", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, opsBody(rcpt, id)); err != nil {
		return err
	}
	return w.Close()
}

// checkStored asserts that every acknowledged message of l is among stored exactly once
// and intact, and that nothing stored was never sent. It returns how many stored
// messages got a 4xx (their commit raced the failure: the sender would retry them).
func (l *smtpLoad) checkStored(t *testing.T, stored []storedMessage) (tempButStored int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]int{}
	for _, m := range stored {
		id := strings.Trim(m.Header.Get("Message-Id"), "<>")
		if !strings.HasPrefix(id, l.prefix+"-") {
			continue
		}
		seen[id]++
		if !l.attempted[id] {
			t.Errorf("stored a message nobody sent: %q", id)
			continue
		}
		if body := m.Raw[strings.Index(m.Raw, "\r\n\r\n")+4:]; !strings.HasSuffix(opsBody(l.rcpt, id), body) {
			t.Errorf("message %s differs from what was sent (%d bytes stored)", id, len(m.Raw))
		}
		if !l.acked[id] {
			tempButStored++
		}
	}
	for id := range l.acked {
		switch seen[id] {
		case 1:
		case 0:
			t.Errorf("acknowledged with 250 but lost: %s", id)
		default:
			t.Errorf("acknowledged once, stored %d times: %s", seen[id], id)
		}
	}
	return tempButStored
}

// summary describes the load's outcomes for the test log.
func (l *smtpLoad) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d attempted, %d acknowledged, 4xx %v, %d 5xx, %d dropped connections",
		len(l.attempted), len(l.acked), l.temp, len(l.perm), l.dropped)
}

// imapProbeScript keeps one IMAPS session (logged in, INBOX selected) and runs the
// commands read from stdin, one per line, printing one line per command:
//
//	open     log in and select INBOX on the kept session: "OK <exists>"
//	fetch    UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]) on the kept session: "OK <count>" or "NO <text>"
//	noop     NOOP on the kept session
//	login    a new connection: LOGIN and SELECT INBOX, then LOGOUT: "OK <exists>"
//
// A NO is "NO <text>", a BAD "BAD <text>", a BYE or a dropped connection "BYE <text>"
// (the kept session is then reopened by the next "open").
const imapProbeScript = `
import imaplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def connect():
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx, timeout=30)
    m.login(sys.argv[2], sys.argv[3])
    typ, data = m.select("INBOX")
    if typ != "OK":
        raise imaplib.IMAP4.error("SELECT " + typ + " " + repr(data))
    return m, data[0].decode()
def text(e):
    return str(e).replace("\n", " ")
kept = None
for line in sys.stdin:
    cmd = line.strip()
    try:
        if cmd == "open":
            kept, n = connect()
            print("OK", n, flush=True)
        elif cmd == "login":
            m, n = connect()
            m.logout()
            print("OK", n, flush=True)
        elif cmd in ("fetch", "noop") and kept is None:
            print("BYE no session", flush=True)
        elif cmd == "fetch":
            typ, data = kept.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            if typ == "OK":
                print("OK", len([d for d in data if isinstance(d, tuple)]), flush=True)
            else:
                print(typ, b" ".join(d for d in data if d).decode(), flush=True)
        elif cmd == "noop":
            typ, data = kept.noop()
            print(typ, b" ".join(d for d in data if d).decode(), flush=True)
        else:
            print("BAD unknown probe", cmd, flush=True)
    except imaplib.IMAP4.abort as e:
        kept = None
        print("BYE", text(e), flush=True)
    except (OSError, EOFError) as e:
        kept = None
        print("BYE", text(e), flush=True)
    except imaplib.IMAP4.error as e:
        s = text(e)
        if "command error: BAD" in s:
            print("BAD", s, flush=True)
        else:
            print("NO", s, flush=True)
`

// imapProbe is a running imapProbeScript.
type imapProbe struct {
	t      *testing.T
	cancel context.CancelFunc
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
}

// startIMAPProbe starts imapProbeScript against addr (bounded to 5 minutes); the test's
// cleanup ends it.
func startIMAPProbe(t *testing.T, addr, user, pass string) *imapProbe {
	t.Helper()
	requireTool(t, "python3")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, "python3", "-c", imapProbeScript, addr, user, pass)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &imapProbe{t: t, cancel: cancel, cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = in.Close()
		cancel()
		_ = cmd.Wait()
	})
	return p
}

// Do runs one probe command and returns the script's answer line (60 s at most).
func (p *imapProbe) Do(cmd string) string {
	p.t.Helper()
	if _, err := io.WriteString(p.in, cmd+"\n"); err != nil {
		p.t.Fatalf("IMAP probe %s: %v", cmd, err)
	}
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("IMAP probe %s: the script ended", cmd)
		}
		return l
	case <-time.After(60 * time.Second):
		p.t.Fatalf("IMAP probe %s: no answer in 60 s", cmd)
	}
	return ""
}

// pop3LoginScript logs in over POP3S with poplib and prints "OK <count>" or the error.
const pop3LoginScript = `
import poplib, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=30)
    p.user(sys.argv[2])
    p.pass_(sys.argv[3])
    print("OK", p.stat()[0])
    p.quit()
except poplib.error_proto as e:
    print("ERR", e.args[0].decode() if isinstance(e.args[0], bytes) else e.args[0])
`

// pop3Login runs pop3LoginScript and returns its line.
func pop3Login(t *testing.T, addr, user, pass string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", pop3LoginScript, addr, user, pass).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// submitAs sends one message through n's submission port with swaks (STARTTLS + AUTH)
// as from; it fails the test unless the reply is 250.
func submitAs(t *testing.T, n *Node, from, pass, to, subject string) {
	t.Helper()
	out := swaks(t, "--to", to, "--from", from, "--server", n.Submission, "--tls",
		"--auth", "PLAIN", "--auth-user", from, "--auth-password", pass,
		"--header", "Subject: "+subject)
	if !accepted(out) {
		t.Fatalf("submission not accepted:\n%s", out)
	}
}

// opsCLI runs a mailgrid command with the configuration of a cluster node that never
// starts. The tests register shards with it before choosing the serving nodes' ports and
// start those at once: the longer a port chosen free waits, the likelier another socket
// on the busy machine (an outgoing connection, another test's listener) takes it, and the
// node then fails to listen on it.
func opsCLI(t *testing.T, dirDSN string, args ...string) string {
	t.Helper()
	return NewClusterNode(t, "ops-cli", dirDSN, NodeOptions{}).CLI("", args...)
}

// nodeAlive reports whether n's process still runs.
func (n *Node) nodeAlive() bool {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	select {
	case <-exited:
		return false
	default:
		return true
	}
}
