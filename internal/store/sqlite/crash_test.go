package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"mailgrid/internal/store"
)

const crashDirEnv = "MAILGRID_STORE_CRASH_DIR"

func crashBody(worker, i int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "Subject: crash %d/%d\r\n", worker, i), 50+i%7)
}

// TestCrashRecovery kills a process with SIGKILL while 20 goroutines deliver, then
// reopens the shard: every delivery that was acknowledged must be there with its exact
// body, and the counters, usage and blob references must match the content.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		id        int64
		worker, i int
	}
	var acks []ack
	sc := bufio.NewScanner(out)
	for len(acks) < 400 && sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d %d %d", &a.id, &a.worker, &a.i); err == nil {
			acks = append(acks, a)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended with %v before it was killed (%d acks)", err, len(acks))
	}
	s := openAt(t, dir, nil, 32<<10)
	for _, a := range acks {
		if got := readAll(t, s, acctA, a.id); !bytes.Equal(got, crashBody(a.worker, a.i)) {
			t.Fatalf("acknowledged message %d lost or damaged after the crash", a.id)
		}
	}
	checkInvariants(t, s)
	deliver(t, s, []byte("Subject: after the crash\r\n\r\n"), acctA)
	checkInvariants(t, s)
}

// crashChild delivers until it is killed, printing an ACK line after each durable return.
func crashChild(dir string) {
	s, err := Open(context.Background(), Options{Dir: dir, PackSize: 32 << 10})
	if err != nil {
		panic(err)
	}
	if err := s.EnsureAccount(context.Background(), acctA); err != nil {
		panic(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			for i := 0; ; i++ {
				res, err := s.Deliver(context.Background(), store.Delivery{Body: bytes.NewReader(crashBody(w, i)),
					Targets: []store.DeliveryTarget{{Account: acctA}}})
				if err != nil || res[0].Err != nil {
					panic(fmt.Sprint(err, res))
				}
				mu.Lock()
				fmt.Printf("ACK %d %d %d\n", res[0].MessageID, w, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// checkInvariants compares, in SQL, every derived number with what it is derived from.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	checks := map[string]string{
		"mailbox counters": `SELECT count(*) FROM mailboxes x WHERE
			messages != (SELECT count(*) FROM messages WHERE mailbox = x.id) OR
			unseen != (SELECT count(*) FROM messages WHERE mailbox = x.id AND seen = 0) OR
			size != (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox = x.id) OR
			uidnext <= (SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox = x.id) OR
			highestmodseq < (SELECT coalesce(max(modseq), 0) FROM messages WHERE mailbox = x.id)`,
		"account usage": `SELECT count(*) FROM accounts a WHERE
			bytes != (SELECT coalesce(sum(m.size), 0) FROM messages m JOIN mailboxes x ON x.id = m.mailbox
				WHERE x.domain = a.domain AND x.account = a.id) OR
			messages != (SELECT count(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox
				WHERE x.domain = a.domain AND x.account = a.id)`,
		"blob references": `SELECT count(*) FROM blobs b WHERE refs != (SELECT count(*) FROM messages WHERE blob = b.id)`,
		"message sizes":   `SELECT count(*) FROM messages m JOIN blobs b ON b.id = m.blob WHERE m.size != b.len`,
	}
	for what, q := range checks {
		var bad int
		if err := s.rdb.QueryRowContext(t.Context(), q).Scan(&bad); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if bad != 0 {
			t.Errorf("%s: %d rows disagree with the content", what, bad)
		}
	}
}
