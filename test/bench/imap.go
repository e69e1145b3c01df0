package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// imapIdleConns is how many connections the IDLE memory measurement holds open.
const imapIdleConns = 1000

// imapIdleSettle is how long the IDLE memory measurement waits once all connections idle
// before it samples RSS (-imap-idle-settle). Over 2 minutes, the Go runtime's periodic
// collection has run and its scavenger returned the freed heap (of the logins' argon2id
// hashes among others): the RSS a server settles at while its connections idle.
var imapIdleSettle = 2 * time.Second

// runIMAP measures the IMAP server at addr (implicit TLS) and prints the figures:
//
//   - a mixed workload (SELECT INBOX, FETCH of flags, envelope and 200 octets of a body,
//     UID SEARCH of a header and a flag, STORE of \Seen, APPEND of a 1 KiB message to
//     Archive) run by clients concurrent connections for dur, each logged in once;
//   - the same with a new connection and LOGIN for every cycle of the five commands, with a
//     full TLS handshake each time, then with TLS session resumption (RFC 8446 2.2: each
//     client keeps the session ticket of its last connection, as Thunderbird and iOS Mail
//     do when they reconnect);
//   - the server's RSS with imapIdleConns connections logged in, INBOX selected, in IDLE.
//
// An op is one of the five mailbox commands; LOGIN and LOGOUT are not counted as ops but
// their time is in the elapsed time of the login-per-cycle run. Client i logs in as
// users[i%len(users)] with pass. rss starts sampling the server's RSS and returns the
// function that stops and gives the peak (node.sampleRSS).
func runIMAP(addr string, users []string, pass string, clients int, dur time.Duration, pid int, rss func() func() int64) {
	runIMAPMixed(addr, users, pass, clients, dur, loginOnce, rss)
	runIMAPMixed(addr, users, pass, clients, dur, loginPerCycle, rss)
	runIMAPMixed(addr, users, pass, clients, dur, loginPerCycleResumed, rss)
	runIMAPIdle(addr, users, pass, imapIdleConns, pid, rss)
}

// imapConn is a minimal IMAP client: tagged commands, responses read to the tagged one.
type imapConn struct {
	c   net.Conn
	r   *bufio.Reader
	tag int
}

// dialIMAPS connects over implicit TLS from local (nil: any address) and reads the
// greeting. The certificate is not checked: loopback. With a session cache, the
// handshake resumes the cached session when the server accepts its ticket.
func dialIMAPS(addr string, local net.Addr, sessions tls.ClientSessionCache) (*imapConn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second, LocalAddr: local},
		Config: &tls.Config{InsecureSkipVerify: true, ClientSessionCache: sessions}} //nolint:gosec // loopback bench
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	ic := &imapConn{c: c, r: bufio.NewReaderSize(c, 32<<10)}
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	l, err := ic.line()
	if err == nil && !strings.HasPrefix(l, "* OK") {
		err = fmt.Errorf("greeting %q", l)
	}
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return ic, nil
}

// line reads one response line; a literal ("{n}" at the end) is read and skipped.
func (c *imapConn) line() (string, error) {
	l, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	l = strings.TrimRight(l, "\r\n")
	if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") {
		if n, err := strconv.Atoi(l[i+1 : len(l)-1]); err == nil {
			if _, err := io.CopyN(io.Discard, c.r, int64(n)); err != nil {
				return "", err
			}
			rest, err := c.line()
			return l + rest, err
		}
	}
	return l, nil
}

// cmd sends one command (it may carry a LITERAL+ literal) and returns the untagged
// lines; a tagged NO or BAD is an error.
func (c *imapConn) cmd(line string) ([]string, error) {
	c.tag++
	tag := "b" + strconv.Itoa(c.tag)
	if err := c.c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c.c, tag+" "+line+"\r\n"); err != nil {
		return nil, err
	}
	var untagged []string
	for {
		l, err := c.line()
		if err != nil {
			return untagged, err
		}
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			if !strings.HasPrefix(rest, "OK") {
				return untagged, fmt.Errorf("%s: %s", strings.Fields(line)[0], rest)
			}
			return untagged, nil
		}
		untagged = append(untagged, l)
	}
}

func (c *imapConn) close() {
	if err := c.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Printf("imap: close: %v", err)
	}
}

// imapLogin connects and logs in.
func imapLogin(addr string, local net.Addr, user, pass string, sessions tls.ClientSessionCache) (*imapConn, error) {
	c, err := dialIMAPS(addr, local, sessions)
	if err != nil {
		return nil, err
	}
	if _, err := c.cmd("LOGIN " + strconv.Quote(user) + " " + strconv.Quote(pass)); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// appendMsg is the message the mixed workload appends (about 1 KiB).
var appendMsg = "From: Bench <bench@client.bench>\r\nTo: user@bench.test\r\nSubject: appended by the IMAP bench\r\n" +
	"Message-ID: <imap-bench@client.bench>\r\n\r\n" + strings.Repeat("An appended line of text for the IMAP bench.\r\n", 20)

// mixedOps names the commands of a cycle, in order.
var mixedOps = [5]string{"SELECT", "FETCH", "SEARCH", "STORE", "APPEND"}

// cycle runs the five mixed commands once on a logged-in connection and records each
// command's latency with its index in mixedOps.
func (c *imapConn) cycle(n int, rec func(int, time.Duration)) error {
	var exists int
	ops := []func() error{
		func() error {
			u, err := c.cmd("SELECT INBOX")
			for _, l := range u {
				if f := strings.Fields(l); len(f) == 3 && f[2] == "EXISTS" {
					exists, _ = strconv.Atoi(f[1])
				}
			}
			if err == nil && exists == 0 {
				err = errors.New("INBOX is empty")
			}
			return err
		},
		func() error {
			_, err := c.cmd(fmt.Sprintf("FETCH %d (FLAGS ENVELOPE BODY.PEEK[TEXT]<0.200>)", 1+n%exists))
			return err
		},
		func() error {
			_, err := c.cmd("UID SEARCH FROM client.bench UNSEEN")
			return err
		},
		func() error {
			op := "+"
			if n/exists%2 == 1 {
				op = "-"
			}
			_, err := c.cmd(fmt.Sprintf(`STORE %d %sFLAGS.SILENT (\Seen)`, 1+n%exists, op))
			return err
		},
		func() error {
			_, err := c.cmd(fmt.Sprintf("APPEND Archive {%d+}\r\n%s", len(appendMsg), appendMsg))
			return err
		},
	}
	for i, op := range ops {
		t0 := time.Now()
		if err := op(); err != nil {
			return err
		}
		rec(i, time.Since(t0))
	}
	return nil
}

// loginMode is how a mixed run's clients connect and log in.
type loginMode int

const (
	loginOnce            loginMode = iota // one connection and LOGIN per client for the run
	loginPerCycle                         // a new connection, full TLS handshake, LOGIN per cycle
	loginPerCycleResumed                  // the same, the TLS session resumed from the client's last
)

func (m loginMode) String() string {
	switch m {
	case loginPerCycle:
		return "connection and login per cycle"
	case loginPerCycleResumed:
		return "connection and login per cycle, TLS session resumed"
	}
	return "login once per client"
}

// mixedRun is what the clients of one mixed run share.
type mixedRun struct {
	addr, pass string
	users      []string
	mode       loginMode
	until      time.Time
	cycles     atomic.Int64
	logins     atomic.Int64
	resumed    atomic.Int64 // logins whose TLS handshake resumed a session
	failed     atomic.Int64
	mu         sync.Mutex
	lat        []time.Duration
	perOp      [len(mixedOps)][]time.Duration
	loginLat   []time.Duration
}

func (r *mixedRun) record(op int, d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.perOp[op] = append(r.perOp[op], d)
	r.mu.Unlock()
}

// login connects and logs in as user, timing it.
func (r *mixedRun) login(user string, sessions tls.ClientSessionCache) (*imapConn, error) {
	t0 := time.Now()
	c, err := imapLogin(r.addr, nil, user, r.pass, sessions)
	if err != nil {
		r.failed.Add(1)
		return nil, err
	}
	d := time.Since(t0)
	r.logins.Add(1)
	if tc, ok := c.c.(*tls.Conn); ok && tc.ConnectionState().DidResume {
		r.resumed.Add(1)
	}
	r.mu.Lock()
	r.loginLat = append(r.loginLat, d)
	r.mu.Unlock()
	return c, nil
}

// client runs cycles until the run ends: on one connection, or a new connection and
// login per cycle.
func (r *mixedRun) client(i int) {
	user := r.users[i%len(r.users)]
	var sessions tls.ClientSessionCache
	if r.mode == loginPerCycleResumed {
		sessions = tls.NewLRUClientSessionCache(1)
	}
	var c *imapConn
	for n := i * 7; time.Now().Before(r.until); n++ {
		if c == nil {
			var err error
			if c, err = r.login(user, sessions); err != nil {
				log.Printf("imap: login %s: %v", user, err)
				return
			}
		}
		if err := c.cycle(n, r.record); err != nil {
			r.failed.Add(1)
			log.Printf("imap: %s: %v", user, err)
			c.close()
			return
		}
		r.cycles.Add(1)
		if r.mode != loginOnce {
			if _, err := c.cmd("LOGOUT"); err != nil {
				log.Printf("imap: LOGOUT: %v", err)
			}
			c.close()
			c = nil
		}
	}
	if c != nil {
		if _, err := c.cmd("LOGOUT"); err != nil {
			log.Printf("imap: LOGOUT: %v", err)
		}
		c.close()
	}
}

// runIMAPMixed runs the mixed workload with clients connections for dur and prints it.
func runIMAPMixed(addr string, users []string, pass string, clients int, dur time.Duration, mode loginMode, rss func() func() int64) {
	r := &mixedRun{addr: addr, pass: pass, users: users, mode: mode}
	peak := rss()
	start := time.Now()
	r.until = start.Add(dur)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.client(i)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	peakRSS := peak()
	ops := len(r.lat)
	fmt.Printf("imap mixed, %d clients, %s: %d ops in %d cycles (%d failed) in %.1fs = %.0f ops/s; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d logins (%.0f/s, p50 %.1f ms, p99 %.1f ms, %d resumed TLS); peak RSS %d MiB\n",
		clients, mode.String(), ops, r.cycles.Load(), r.failed.Load(), elapsed.Seconds(), float64(ops)/elapsed.Seconds(),
		ms(pctile(r.lat, 0.5)), ms(pctile(r.lat, 0.99)), ms(pctile(r.lat, 1)),
		r.logins.Load(), float64(r.logins.Load())/elapsed.Seconds(), ms(pctile(r.loginLat, 0.5)), ms(pctile(r.loginLat, 0.99)), r.resumed.Load(), peakRSS>>20)
	fmt.Print("  p50/p99 by command:")
	for i, name := range mixedOps {
		fmt.Printf(" %s %.1f/%.1f ms", name, ms(pctile(r.perOp[i], 0.5)), ms(pctile(r.perOp[i], 0.99)))
	}
	fmt.Println()
}

// pctile sorts lat and returns its p-th percentile (0 for none).
func pctile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[int(float64(len(lat)-1)*p)]
}

// runIMAPIdle opens n connections (from 127.0.0.2 and up, 40 per address, under the
// server's per-IP limit), each logged in, with INBOX selected and in IDLE, and prints the
// server's RSS before they open and while they all idle, with its anonymous and
// file-backed parts (the binary's pages) at the end; then it closes them. Logins are
// opened 4 at a time: each costs an argon2id hash with 19 MiB of memory.
func runIMAPIdle(addr string, users []string, pass string, n int, pid int, rss func() func() int64) {
	base := rss()()
	start := time.Now()
	conns := make([]*imapConn, n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openIdle(addr, i, users[i%len(users)], pass)
			if err != nil {
				failed.Add(1)
				log.Printf("imap idle %d: %v", i, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	opened := time.Since(start)
	time.Sleep(imapIdleSettle) // the last IDLE settles
	stop := rss()
	time.Sleep(3 * time.Second)
	idle := stop()
	rssParts := "summed PSS of the server's processes"
	if pid != 0 {
		rssParts = rssSplit(pid)
	}
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
	ok := n - int(failed.Load())
	perConn := int64(0)
	if ok > 0 {
		perConn = (idle - base) / int64(ok) >> 10
	}
	fmt.Printf("imap %d connections in IDLE (%d failed, opened in %.1fs): server RSS %d MiB (%d MiB before they opened: ~%d KiB per connection; %s)\n",
		ok, failed.Load(), opened.Seconds(), idle>>20, base>>20, perConn, rssParts)
}

// openIdle logs connection i in, selects INBOX and starts IDLE.
func openIdle(addr string, i int, user, pass string) (*imapConn, error) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, byte(i/40/250), byte(2+i/40%250))}
	c, err := imapLogin(addr, local, user, pass, nil)
	if err != nil {
		return nil, err
	}
	if _, err := c.cmd("SELECT INBOX"); err != nil {
		c.close()
		return nil, err
	}
	if _, err := io.WriteString(c.c, "idle IDLE\r\n"); err != nil {
		c.close()
		return nil, err
	}
	l, err := c.line()
	if err == nil && !strings.HasPrefix(l, "+") {
		err = fmt.Errorf("IDLE: %q", l)
	}
	if err == nil {
		err = c.c.SetDeadline(time.Time{})
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}
