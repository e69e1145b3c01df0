package main

import (
	"fmt"
	"log"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// runIMAPIdleFresh prints the IDLE memory figure (runIMAPIdle) again from nodes that ran
// nothing before but filling the INBOXes with as many messages as the runs above left
// there: the figure runIMAP prints comes from a node that has just run the SMTP, POP3 and
// IMAP mixed workloads (argon2id logins of 19 MiB each among them), whose RSS still holds
// heap they freed that the Go runtime has not yet returned to the OS. First with the
// default configuration, then with node.memory_limit_bytes = memLimit (docs/config.md;
// -imap-idle-limit), each on a line of its own; the figure of the runs above stays the
// default one.
func runIMAPIdleFresh(bin, dnsAddr string, remotePort int, users []string, messages int, memLimit int64) {
	for _, limit := range []int64{0, memLimit} {
		extra, what := "", "default configuration"
		if limit != 0 {
			extra = fmt.Sprintf("[node]\nmemory_limit_bytes = %d\n", limit)
			what = fmt.Sprintf("node.memory_limit_bytes = %d MiB", limit>>20)
		}
		n, err := startNode(bin, dnsAddr, remotePort, extra)
		if err != nil {
			log.Printf("imap idle, fresh node: %v", err)
			return
		}
		if err := n.setup(users); err != nil {
			log.Printf("imap idle, fresh node: %v", err)
			n.stop()
			return
		}
		failed := fill(n, users, messages)
		fmt.Printf("fresh node (%s; %d messages delivered first, %d failed):\n  ", what, messages, failed)
		runIMAPIdle(n.imaps, users, "bench-password", imapIdleConns, n.cmd.Process.Pid, n.sampleRSS)
		n.stop()
	}
}

// fill delivers count 4 KiB messages to users over 20 SMTP sessions, quietly, and
// returns how many failed.
func fill(n *node, users []string, count int) int64 {
	body := makeMessage(4 << 10)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for s := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := smtp.Dial(n.mx)
			if err != nil {
				failed.Add(1)
				return
			}
			defer c.Close()
			if err := c.Hello("bench.client"); err != nil {
				failed.Add(1)
				return
			}
			for next.Add(1) <= int64(count) {
				if _, err := sendOne(c, "sender@client.bench", users[s%len(users)], body); err != nil {
					failed.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	return failed.Load()
}
