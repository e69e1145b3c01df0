package sqlite_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/queue"
	"mailgrid/internal/queue/queuetest"
	"mailgrid/internal/queue/sqlite"
)

// dirs keys storage on the test, so the suite can reopen the same queue.
type dirs struct {
	mu sync.Mutex
	m  map[*testing.T]string
}

func (d *dirs) open(t *testing.T) queue.Queue {
	d.mu.Lock()
	dir, ok := d.m[t]
	if !ok {
		dir = t.TempDir()
		d.m[t] = dir
	}
	d.mu.Unlock()
	q, err := sqlite.Open(t.Context(), filepath.Join(dir, "queue.db"), filepath.Join(dir, "bodies"))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestConformance(t *testing.T) {
	d := &dirs{m: make(map[*testing.T]string)}
	queuetest.Run(t, d.open)
}

// TestOrphanSweep: a body file without a row (a crash between writing the body and
// committing the row) is removed on open once it is old; a young one is left alone
// because an Enqueue in another process may be about to commit it.
func TestOrphanSweep(t *testing.T) {
	dir := t.TempDir()
	bodies := filepath.Join(dir, "bodies")
	q, err := sqlite.Open(t.Context(), filepath.Join(dir, "q.db"), bodies)
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.Enqueue(t.Context(), queue.Envelope{From: "a@example.org"}, []queue.Recipient{{Addr: "b@remote.test"}}, queuetest.Body("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{"oldorphan", "young", id + ".tmp"} {
		p := filepath.Join(bodies, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != "young" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Chtimes(filepath.Join(bodies, id), old, old); err != nil {
		t.Fatal(err)
	}
	q, err = sqlite.Open(t.Context(), filepath.Join(dir, "q.db"), bodies)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			t.Error(err)
		}
	}()
	for name, want := range map[string]bool{"oldorphan": false, "young": true, id + ".tmp": false, id: true} {
		_, err := os.Stat(filepath.Join(bodies, name))
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", name, got, want)
		}
	}
}

// TestRetryFromAnotherProcess: `queue retry` in another process (here the test binary
// re-executed) while the server holds the queue open is seen by the server's next Lease.
func TestRetryFromAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	db, bodies := filepath.Join(dir, "q.db"), filepath.Join(dir, "bodies")
	q, err := sqlite.Open(t.Context(), db, bodies)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			t.Error(err)
		}
	}()
	id, err := q.Enqueue(t.Context(), queue.Envelope{From: "a@example.org"}, []queue.Recipient{{Addr: "b@remote.test"}}, queuetest.Body("x"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := q.Lease(t.Context(), "server", now, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := q.Release(t.Context(), id, "server", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRetry$", "-test.count=1")
	cmd.Env = append(os.Environ(), "QUEUE_HELPER_DB="+db, "QUEUE_HELPER_BODIES="+bodies, "QUEUE_HELPER_ID="+id)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	items, err := q.Lease(t.Context(), "server", now, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].ID != id {
		t.Fatalf("after retry in another process the server leased %d items, want the retried one", len(items))
	}
}

// TestHelperRetry is the other process of TestRetryFromAnotherProcess.
func TestHelperRetry(t *testing.T) {
	db := os.Getenv("QUEUE_HELPER_DB")
	if db == "" {
		return // only meaningful as the helper process
	}
	q, err := sqlite.Open(t.Context(), db, os.Getenv("QUEUE_HELPER_BODIES"))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(t.Context(), os.Getenv("QUEUE_HELPER_ID")); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkEnqueue measures a durable enqueue (body file fsync, directory fsync, row
// commit with synchronous=FULL) of a 4 KiB message with two recipients.
func BenchmarkEnqueue(b *testing.B) {
	dir := b.TempDir()
	q, err := sqlite.Open(b.Context(), filepath.Join(dir, "q.db"), filepath.Join(dir, "bodies"))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := q.Close(); err != nil {
			b.Error(err)
		}
	}()
	body := "Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef", 256)
	rcpts := []queue.Recipient{{Addr: "x@one.test"}, {Addr: "y@two.test"}}
	for b.Loop() {
		if _, err := q.Enqueue(b.Context(), queue.Envelope{From: "a@example.org"}, rcpts, queuetest.Body(body)); err != nil {
			b.Fatal(err)
		}
	}
}
