package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"
)

// TestKillAfter250 kills the server with SIGKILL right after clients have read 250
// replies, restarts it, and repeats: every acknowledged message must be in its mailbox,
// intact, and nothing half-written may appear.
func TestKillAfter250(t *testing.T) {
	n := NewNode(t, "k", NodeOptions{})
	n.Start()
	n.AddUser("alice@example.test", "alice-password")

	const rounds, senders, perRound = 4, 6, 30
	var mu sync.Mutex
	acked := map[string]bool{}
	attempted := map[string]bool{}
	for round := 0; round < rounds; round++ {
		var count atomic.Int64
		killed := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				c, err := smtp.Dial(n.SMTP)
				if err != nil {
					return
				}
				defer c.Close()
				for i := 0; i < 1000; i++ { // bounded; the kill ends it much sooner
					id := fmt.Sprintf("r%d-s%d-m%d@durability.test", round, s, i)
					mu.Lock()
					attempted[id] = true
					mu.Unlock()
					if err := sendMessage(c, id); err != nil {
						return
					}
					mu.Lock()
					acked[id] = true
					mu.Unlock()
					if count.Add(1) >= perRound {
						once.Do(func() { n.Kill(); close(killed) })
					}
				}
			}(s)
		}
		wg.Wait()
		once.Do(func() { n.Kill(); close(killed) })
		<-killed
		n.Start()
	}
	if err := n.Term(); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range n.Mailbox("alice@example.test", "INBOX") {
		id := strings.Trim(m.Header.Get("Message-Id"), "<>")
		if !attempted[id] {
			t.Errorf("stored a message nobody sent: %q", id)
		}
		if stored[id] {
			t.Errorf("stored twice: %s", id)
		}
		stored[id] = true
		if !strings.Contains(m.Raw, "END-OF-"+id) {
			t.Errorf("message %s is truncated (%d bytes)", id, len(m.Raw))
		}
	}
	lost := 0
	for id := range acked {
		if !stored[id] {
			lost++
			t.Errorf("acknowledged with 250 but lost: %s", id)
		}
	}
	if len(acked) < rounds*perRound {
		t.Fatalf("only %d messages acknowledged; the test did not exercise enough", len(acked))
	}
	t.Logf("%d acknowledged, %d stored, %d lost", len(acked), len(stored), lost)
}

// sendMessage runs one SMTP transaction of a ~6 KiB message with Message-ID id.
func sendMessage(c *smtp.Client, id string) error {
	if err := c.Mail("sender@elsewhere.test", nil); err != nil {
		return err
	}
	if err := c.Rcpt("alice@example.test", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	body := "From: sender@elsewhere.test\r\nTo: alice@example.test\r\nSubject: durability\r\nMessage-ID: <" + id + ">\r\n\r\n" +
		strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 90) + "END-OF-" + id + "\r\n"
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}
