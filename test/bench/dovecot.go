package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"

	"mailgrid/internal/app"
)

// The Dovecot baseline (-dovecot): the IMAP mixed runs and the POP3 RETR run of this
// bench, against Dovecot 2.3 from Debian's packages (dovecot-imapd, dovecot-pop3d), in the
// same hour on the same machine. The targets are ratios to Dovecot measured here;
// this machine's speed varies from day to day by up to two times (docs/benchmarks.md), so
// only figures of one run compare.
//
// Dovecot runs from a configuration of its own in a temporary directory: its defaults
// (mail_fsync "optimized": fsync of saved mail, not of flag changes; no full-text search
// plugin) with the tuning its documentation gives for busy servers (login processes in
// high-performance mode, mail processes reused), and what the bench needs: loopback
// listeners with implicit TLS (IMAP) and STLS (POP3), a self-signed ECDSA P-256
// certificate as mailgrid's, accounts in a passwd-file hashed with doveadm pw's default
// scheme (-dovecot-scheme ARGON2ID: mailgrid's argon2id parameters), its auth cache on,
// Maildir storage, an Archive mailbox created on first use, and process limits raised
// for the connection counts. The mailboxes are filled over IMAP APPEND with the messages
// the inbound runs send mailgrid. Memory is the summed PSS of Dovecot's processes.
//
// The IDLE figure is Dovecot without imap-hibernate: hibernation needs an inotify
// instance per mailbox, and this machine allows 128 per UID (fs.inotify.max_user_instances,
// a system setting the bench leaves alone); every IDLE connection keeps its imap process.
//
// Measured on 2026-11-29 with Dovecot's defaults instead (login processes one per
// connection, a mail process per connection, argon2id): login per cycle ran at about 40
// logins/s, bound by the single auth process; this tuning gives it 5 times that.

// dovecotBin is Debian's Dovecot master.
const dovecotBin = "/usr/sbin/dovecot"

// dovecot is a running Dovecot instance.
type dovecot struct {
	dir         string
	cmd         *exec.Cmd
	imaps, pop3 string
}

// runDovecot starts Dovecot, fills its mailboxes as the inbound runs fill mailgrid's,
// runs the POP3 and IMAP mixed figures and stops it.
func runDovecot(users []string, pass string, sessions, messages int, dur time.Duration) error {
	if _, err := os.Stat(dovecotBin); err != nil {
		return fmt.Errorf("dovecot baseline: %w (install dovecot-imapd and dovecot-pop3d)", err)
	}
	d, err := startDovecot(users, pass)
	if err != nil {
		return err
	}
	defer d.stop()
	fmt.Printf("dovecot baseline: %s, Maildir, tuned for busy servers as its documentation gives it (test/bench/dovecot.go)\n", dovecotVersion())
	t0 := time.Now()
	if err := appendAll(d.imaps, users, pass, sessions, messages); err != nil {
		return err
	}
	fmt.Printf("dovecot: mailboxes filled over IMAP APPEND in %.1fs\n", time.Since(t0).Seconds())
	runPOP3(d.pop3, "user%d@bench.test", pass, sessions, messages)
	for _, mode := range []loginMode{loginOnce, loginPerCycle, loginPerCycleResumed} {
		runIMAPMixed(d.imaps, users, pass, sessions, dur, mode, d.sampleMemory)
	}
	runIMAPIdle(d.imaps, users, pass, imapIdleConns, 0, d.sampleMemory)
	return nil
}

// dovecotVersion is what dovecot --version prints.
func dovecotVersion() string {
	out, err := exec.Command(dovecotBin, "--version").Output()
	if err != nil {
		return "Dovecot (version unknown)"
	}
	return "Dovecot " + strings.TrimSpace(string(out))
}

// startDovecot writes the configuration, accounts and certificate into a new temporary
// directory and starts Dovecot in the foreground on free loopback ports.
func startDovecot(users []string, pass string) (*dovecot, error) {
	dir, err := os.MkdirTemp("", "mailgrid-bench-dovecot-")
	if err != nil {
		return nil, err
	}
	d := &dovecot{dir: dir}
	// The mail processes run as nobody: they must reach the mail under dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		d.stop()
		return nil, err
	}
	d.imaps, d.pop3 = freeAddr(), freeAddr()
	if err := d.writeFiles(users, pass); err != nil {
		d.stop()
		return nil, err
	}
	d.cmd = exec.Command(dovecotBin, "-F", "-c", filepath.Join(dir, "dovecot.conf"))
	d.cmd.Stdout, d.cmd.Stderr = os.Stderr, os.Stderr
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		d.stop()
		return nil, err
	}
	for _, addr := range []string{d.imaps, d.pop3} {
		if err := waitListen(addr); err != nil {
			d.stop()
			return nil, fmt.Errorf("dovecot: %w (log: %s)", err, filepath.Join(dir, "dovecot.log"))
		}
	}
	return d, nil
}

// writeFiles writes dovecot.conf, the passwd-file and the certificate.
func (d *dovecot) writeFiles(users []string, pass string) error {
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	if err := app.WriteSelfSigned("bench.dovecot", filepath.Join(d.dir, "cert.pem"), filepath.Join(d.dir, "key.pem")); err != nil {
		return err
	}
	var pw strings.Builder
	for _, u := range users {
		h, err := dovecotHash(pass)
		if err != nil {
			return err
		}
		pw.WriteString(u + ":" + h + "\n")
	}
	conf := fmt.Sprintf(`# mailgrid bench: Dovecot baseline (test/bench/dovecot.go)
protocols = imap pop3
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
ssl = required
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
auth_mechanisms = plain login
# mailgrid keeps verified logins 5 minutes (internal/directory/authcache.go).
auth_cache_size = 10M
auth_cache_ttl = 5 mins
auth_cache_verify_password_with_worker = yes
passdb {
  driver = passwd-file
  args = %[1]s/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/home/%%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  mailbox Archive {
    auto = create
    special_use = \Archive
  }
}
default_process_limit = 1100
default_client_limit = 6000
# Performance tuning as Dovecot's documentation gives it for busy servers: login
# processes in high-performance mode, and mail processes reused (one UID owns all mail).
service imap {
  service_count = 0
  process_min_avail = 20
}
service pop3 {
  service_count = 0
  process_min_avail = 20
}
service imap-login {
  service_count = 0
  process_min_avail = 2
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = %[2]s
    ssl = yes
  }
}
service pop3-login {
  service_count = 0
  process_min_avail = 2
  inet_listener pop3 {
    port = %[3]s
  }
  inet_listener pop3s {
    port = 0
  }
}
`, d.dir, port(d.imaps), port(d.pop3))
	for name, body := range map[string]string{
		"dovecot.conf": conf, "passwd": pw.String(),
	} {
		if err := os.WriteFile(filepath.Join(d.dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	home := filepath.Join(d.dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		return err
	}
	return os.Chown(home, 65534, 65534)
}

// stop stops Dovecot (its master takes its children down with it) and removes the
// directory.
func (d *dovecot) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	_ = os.RemoveAll(d.dir)
}

// sampleMemory samples the summed PSS of Dovecot's processes once a second: reading
// smaps_rollup of every process walks its page tables, which every 50 ms (samplePeak's
// period for mailgrid's one /proc/pid/status) would take CPU from the runs measured.
func (d *dovecot) sampleMemory() func() int64 {
	return samplePeakEvery(time.Second, func() int64 { return treePSS(d.cmd.Process.Pid) })
}

// treePSS is the summed proportional set size of pid and its descendants: a process
// per connection shares its binary's pages, which PSS counts once in all.
func treePSS(pid int) int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				children[pp] = append(children[pp], p)
			}
		}
	}
	var total int64
	for todo := []int{pid}; len(todo) > 0; {
		p := todo[len(todo)-1]
		todo = append(todo[:len(todo)-1], children[p]...)
		total += pssOf(p)
	}
	return total
}

// pssOf is a process's Pss from /proc/pid/smaps_rollup, in bytes.
func pssOf(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// appendAll fills each user's INBOX over IMAP APPEND with the messages runInbound
// delivers to mailgrid: messages of 4 KiB and a quarter as many of 100 KiB, spread over
// the users in turn, sessions connections at a time.
func appendAll(addr string, users []string, pass string, sessions, messages int) error {
	small, large := makeMessage(4<<10), makeMessage(100<<10)
	var failed atomic.Int64
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				c, err := imapLogin(addr, nil, users[s%len(users)], pass, nil)
				if err != nil {
					return err
				}
				defer c.close()
				for i := s; i < messages+messages/4; i += sessions {
					m := small
					if i >= messages {
						m = large
					}
					if _, err := c.cmd(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m)); err != nil {
						return err
					}
				}
				_, err = c.cmd("LOGOUT")
				return err
			}()
			if err != nil {
				failed.Add(1)
				errOnce.Do(func() { firstErr = err })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("dovecot: APPEND fill: %d sessions failed, first: %w", failed.Load(), firstErr)
	}
	return nil
}

// dovecotScheme is the password scheme of the Dovecot accounts (-dovecot-scheme): empty
// for doveadm pw's default (CRYPT, bcrypt of cost 5 in 2.3: about 2 ms, where
// mailgrid's argon2id costs about 30 ms but is verified once per cache period).
var dovecotScheme = ""

// dovecotHash is pass hashed in dovecotScheme: ARGON2ID of mailgrid's parameters, any
// other scheme as doveadm pw makes it.
func dovecotHash(pass string) (string, error) {
	if dovecotScheme == "ARGON2ID" {
		h, err := argon2idHash(pass)
		return "{ARGON2ID}" + h, err
	}
	args := []string{"pw", "-p", pass}
	if dovecotScheme != "" {
		args = append(args, "-s", dovecotScheme)
	}
	out, err := exec.Command("doveadm", args...).Output()
	if err != nil {
		return "", fmt.Errorf("doveadm pw -s %s: %w", dovecotScheme, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// argon2idHash is an argon2id PHC string of mailgrid's parameters
// (internal/directory/password.go), as libsodium verifies it.
func argon2idHash(pass string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	const mem, iter, threads = 19456, 2, 1
	key := argon2.IDKey([]byte(pass), salt, iter, mem, threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", mem, iter, threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}
