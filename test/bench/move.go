package main

// The user-move figure (-cluster, after the shapes): two nodes, a directory and two shard
// databases; a user with 2,000 messages of 4 KiB on s1 is moved to s2 with `mailgrid user
// move` while two SMTP sessions keep delivering to that user through node 2 and an IMAP
// session of the user idles on node 1. Printed: messages copied per second over the
// whole command and over the move itself (movetimeline.go: start-up apart), a timeline of
// the journal's updates, the fence (writes blocked), deliveries accepted and deferred
// (4xx) during the move, the CPU time of the mover process and of PostgreSQL (pgcpu.go),
// and what the IMAP session got.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

const moveMessages = 2000

func runMove(bin, adminDSN, dnsAddr string) (err error) {
	prefix := "mailgrid_bench_" + strings.ToLower(rand.Text()[:10])
	names := []string{prefix + "_dir", prefix + "_s1", prefix + "_s2"}
	dsns, err := createDatabases(adminDSN, names)
	defer func() { err = errors.Join(err, dropDatabases(adminDSN, names)) }()
	if err != nil {
		return err
	}
	nodes := make([]*node, 2)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	}()
	for i := range nodes {
		if nodes[i], err = writeClusterNode(bin, dsns[0], dnsAddr, fmt.Sprintf("n%d", i+1)); err != nil {
			return err
		}
	}
	n1, n2 := nodes[0], nodes[1]
	if err := n1.cli("", "shard", "add", "s1", "--dsn", dsns[1]); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	const user = "mover@bench.test"
	if err := n1.cli("", "domain", "add", "bench.test"); err != nil {
		return err
	}
	if err := n1.cli("bench-password\n", "user", "add", user, "--password-stdin"); err != nil {
		return err
	}
	if err := n1.cli("", "shard", "add", "s2", "--dsn", dsns[2]); err != nil {
		return err
	}
	body := makeMessage(4 << 10)
	var next atomic.Int64
	var wg sync.WaitGroup
	var seedErr atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendUntil(n1.mx, user, body, func() bool { return next.Add(1) <= moveMessages }, nil); err != nil {
				seedErr.Store(err)
			}
		}()
	}
	wg.Wait()
	if e, ok := seedErr.Load().(error); ok {
		return fmt.Errorf("seed: %w", e)
	}

	bye := make(chan string, 1)
	go func() { bye <- idleUntilBye(n1.imaps, user, "bench-password") }()
	var stop atomic.Bool
	var accepted, deferred atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := sendUntil(n2.mx, user, body, func() bool { return !stop.Load() }, func(ok bool) {
				if ok {
					accepted.Add(1)
				} else {
					deferred.Add(1)
				}
			})
			if err != nil {
				seedErr.Store(err)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	load := loadAvg()
	pg, err := watchPGCPU(adminDSN, names) // pgcpu.go
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return err
	}
	run, err := runMover(bin, n1.cfg, user, "s2")
	pgCPU, perr := pg.stop()
	stop.Store(true)
	wg.Wait()
	if err = errors.Join(err, perr); err != nil {
		return err
	}
	if e, ok := seedErr.Load().(error); ok {
		return fmt.Errorf("load: %w", e)
	}
	m, err := journalFigures(bin, n1.cfg, user)
	if err != nil {
		return err
	}
	var imap string
	select {
	case imap = <-bye:
	case <-time.After(10 * time.Second):
		imap = "no BYE within 10 s"
	}
	fmt.Printf("user move, %d x 4 KiB, s1 -> s2 (2 nodes, SMTP load on node 2, IMAP IDLE on node 1; load avg %s)\n", moveMessages, load)
	fmt.Printf("  %d messages copied in %.2f s (%d rounds): %.0f msg/s over the whole command, %.0f msg/s over the move itself; fence %d ms\n",
		m.Messages, run.wall.Seconds(), m.Rounds, float64(m.Messages)/run.wall.Seconds(),
		float64(m.Messages)/run.moveTime().Seconds(), m.FenceMS)
	run.printTimeline()
	fmt.Printf("  the mover process (whole command, start-up included): %.0f ms CPU = %.0f cpu-µs/msg (PostgreSQL's not counted)\n",
		float64(run.cpu.Microseconds())/1000, float64(run.cpu.Microseconds())/float64(max(m.Messages, 1)))
	fmt.Printf("  PostgreSQL meanwhile (every backend of the three databases: the mover's, and the nodes' serving the load and IMAP): %.0f ms CPU = %.0f cpu-µs/msg\n",
		float64(pgCPU.Microseconds())/1000, float64(pgCPU.Microseconds())/float64(max(m.Messages, 1)))
	fmt.Printf("  during the move: %d deliveries accepted, %d deferred with 4xx (retried); IMAP session: %s\n",
		accepted.Load(), deferred.Load(), imap)
	return nil
}

// sendUntil delivers body to rcpt over one SMTP session while more() says so; report, if
// set, hears of each message: accepted or deferred (4xx, then sent again). A 5xx fails.
func sendUntil(addr, rcpt string, body []byte, more func() bool, report func(ok bool)) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.Hello("bench.client"); err != nil {
		return err
	}
	for more() {
		for {
			_, err := sendOne(c, "sender@client.bench", rcpt, body)
			var se *smtp.SMTPError
			if err != nil && errors.As(err, &se) && se.Code/100 == 4 {
				if report != nil {
					report(false)
				}
				_ = c.Reset()
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if err != nil {
				return err
			}
			if report != nil {
				report(true)
			}
			break
		}
	}
	return c.Quit()
}

// idleUntilBye logs in over IMAPS, selects INBOX, idles and returns the BYE line the
// server sends (or what went wrong).
func idleUntilBye(addr, user, pass string) string {
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // the node's self-signed certificate
	if err != nil {
		return err.Error()
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "a LOGIN %s %s\r\nb SELECT INBOX\r\nc IDLE\r\n", user, pass)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return "connection ended without BYE: " + err.Error()
		}
		if bytes.HasPrefix(line, []byte("* BYE")) {
			return strings.TrimSpace(string(line))
		}
		if bytes.HasPrefix(line, []byte("a NO")) || bytes.HasPrefix(line, []byte("b NO")) {
			return strings.TrimSpace(string(line))
		}
	}
}
