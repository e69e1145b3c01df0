package pop3server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/pop3server"
)

// BenchmarkRETR measures RETR throughput of 4 KiB messages over STLS on loopback, from
// the real SQLite store: one session, and four sessions on four accounts at once.
func BenchmarkRETR(b *testing.B) {
	for _, sessions := range []int{1, 4} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) { benchRETR(b, sessions) })
	}
}

func benchRETR(b *testing.B, sessions int) {
	const perBox = 100
	w := newWorld(b)
	accts := []directory.Account{w.user}
	for i := 1; i < sessions; i++ {
		accts = append(accts, w.Account(b, fmt.Sprintf("bench%d@local.test", i), userPass, 0))
	}
	for _, a := range accts {
		w.user = a
		for i := 0; i < perBox; i++ {
			w.deliver(b, testMessage(i, 4096))
		}
	}
	addr := w.start(b, func(o *pop3server.Options) { o.Logger = nil })
	clients := make([]*client, sessions)
	for i, a := range accts {
		c := dialGreeted(b, addr)
		c.stls()
		c.cmd("USER " + a.Address.String())
		c.expectPrefix2(c.cmd("PASS "+userPass), "+OK")
		clients[i] = c
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(4096)
	b.ResetTimer()
	for _, c := range clients {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				if err := retr(c, int(n%perBox)+1); err != nil {
					b.Error(err)
					return
				}
			}
		}(c)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	for _, c := range clients {
		c.cmd("QUIT")
	}
}

// retr sends RETR n and reads the reply to its terminating line.
func retr(c *client, n int) error {
	if _, err := fmt.Fprintf(c.Conn, "RETR %d\r\n", n); err != nil {
		return err
	}
	return readMulti(c.R)
}

func readMulti(r *bufio.Reader) error {
	l, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(l, []byte("+OK")) {
		return fmt.Errorf("RETR: %q", strings.TrimSpace(string(l)))
	}
	for {
		l, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return err
		}
		if string(l) == ".\r\n" {
			return nil
		}
	}
}
