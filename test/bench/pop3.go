package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runPOP3 measures POP3 RETR throughput against the listener at addr and prints it:
// sessions concurrent sessions retrieve messages in total (RETR of each maildrop's
// messages in turn, again and again), then QUIT without DELE, so nothing is deleted and
// the run can be repeated. Each session upgrades with STLS when the server offers it (the
// certificate is not checked: loopback) and logs in with USER/PASS.
//
// POP3 allows one session per maildrop, so when user contains "%d" session i logs in as
// fmt.Sprintf(user, i) (e.g. "user%d@bench.test", the accounts main creates); otherwise
// a single session is run. The maildrops must hold messages already.
func runPOP3(addr, user, pass string, sessions, messages int) {
	if !strings.Contains(user, "%d") && sessions > 1 {
		log.Printf("pop3: one maildrop, one session (user has no %%d)")
		sessions = 1
	}
	conns := make([]*pop3Conn, 0, sessions)
	for i := 0; i < sessions; i++ {
		u := user
		if strings.Contains(user, "%d") {
			u = fmt.Sprintf(user, i)
		}
		c, err := pop3Login(addr, u, pass)
		if err != nil {
			log.Printf("pop3: session %d (%s): %v", i, u, err)
			continue
		}
		conns = append(conns, c)
	}
	if len(conns) == 0 {
		log.Printf("pop3: no session could log in")
		return
	}
	var (
		next, failed, octets atomic.Int64
		mu                   sync.Mutex
		lat                  = make([]time.Duration, 0, messages)
		wg                   sync.WaitGroup
	)
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func(c *pop3Conn) {
			defer wg.Done()
			defer c.quit()
			for n := next.Add(1); n <= int64(messages); n = next.Add(1) {
				t0 := time.Now()
				size, err := c.retr(int(n%int64(c.count)) + 1)
				if err != nil {
					failed.Add(1)
					log.Printf("pop3: RETR: %v", err)
					return
				}
				d := time.Since(t0)
				octets.Add(size)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	pop3Report(len(conns), len(lat), int(failed.Load()), octets.Load(), elapsed, lat)
}

func pop3Report(sessions, ok, failed int, octets int64, elapsed time.Duration, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	fmt.Printf("pop3 RETR, %d sessions: %d messages (%d failed) in %.2fs = %.0f msg/s, %.1f MiB/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		sessions, ok, failed, elapsed.Seconds(), float64(ok)/elapsed.Seconds(),
		float64(octets)/(1<<20)/elapsed.Seconds(), pct(0.50), pct(0.99), pct(1))
}

// pop3Conn is a minimal POP3 client: enough for login and RETR.
type pop3Conn struct {
	conn  net.Conn
	r     *bufio.Reader
	count int // messages in the maildrop
}

func pop3Login(addr, user, pass string) (*pop3Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &pop3Conn{conn: conn, r: bufio.NewReader(conn)}
	if err := c.login(user, pass); err != nil {
		_ = conn.Close() // the login error is the one to report
		return nil, err
	}
	return c, nil
}

func (c *pop3Conn) login(user, pass string) error {
	if _, err := c.ok(); err != nil { // greeting
		return err
	}
	caps, err := c.multi("CAPA")
	if err != nil {
		return err
	}
	if bytes.Contains(caps, []byte("\nSTLS\r\n")) {
		if _, err := c.cmd("STLS"); err != nil {
			return err
		}
		tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true}) // loopback bench
		if err := tc.Handshake(); err != nil {
			return err
		}
		c.conn, c.r = tc, bufio.NewReader(tc)
	}
	if _, err := c.cmd("USER " + user); err != nil {
		return err
	}
	if _, err := c.cmd("PASS " + pass); err != nil {
		return err
	}
	stat, err := c.cmd("STAT")
	if err != nil {
		return err
	}
	f := strings.Fields(stat)
	if len(f) < 2 {
		return fmt.Errorf("STAT reply %q", stat)
	}
	if c.count, err = strconv.Atoi(f[1]); err != nil || c.count == 0 {
		return fmt.Errorf("maildrop of %s is empty (%q)", user, stat)
	}
	return nil
}

// cmd sends a command and returns its +OK line.
func (c *pop3Conn) cmd(line string) (string, error) {
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return "", err
	}
	return c.ok()
}

func (c *pop3Conn) ok() (string, error) {
	l, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(l, "+OK") {
		return "", fmt.Errorf("server said %q", strings.TrimSpace(l))
	}
	return strings.TrimSpace(l), nil
}

// multi sends a command and returns the body of its multi-line reply.
func (c *pop3Conn) multi(line string) ([]byte, error) {
	if _, err := c.cmd(line); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for {
		l, err := c.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
		if string(l) == ".\r\n" {
			return b.Bytes(), nil
		}
		b.Write(l)
	}
}

// retr retrieves message n and returns the octets read.
func (c *pop3Conn) retr(n int) (int64, error) {
	if _, err := c.cmd("RETR " + strconv.Itoa(n)); err != nil {
		return 0, err
	}
	var size int64
	for {
		l, err := c.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return size, err
		}
		if string(l) == ".\r\n" {
			return size, nil
		}
		size += int64(len(l))
	}
}

func (c *pop3Conn) quit() {
	if _, err := c.cmd("QUIT"); err != nil {
		log.Printf("pop3: QUIT: %v", err)
	}
	if err := c.conn.Close(); err != nil {
		log.Printf("pop3: close: %v", err)
	}
}
