package postgres_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/queue"
	"mailgrid/internal/queue/postgres"
	"mailgrid/internal/queue/queuetest"
	"mailgrid/internal/testkit/pgtest"
)

func TestConformance(t *testing.T) {
	var dbs pgkittest.PerTest
	queuetest.Run(t, func(t *testing.T) queue.Queue {
		q, err := postgres.Open(t.Context(), dbs.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return q
	})
}

// openQ opens a handle (a node) on dsn, closed at the end of the test.
func openQ(t testing.TB, dsn string) *postgres.Queue {
	t.Helper()
	q, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Close(); err != nil {
			t.Error(err)
		}
	})
	return q
}

func enqueue(t testing.TB, q queue.Queue, body string, rcpts ...string) string {
	t.Helper()
	rs := make([]queue.Recipient, len(rcpts))
	for i, r := range rcpts {
		rs[i] = queue.Recipient{Addr: r}
	}
	id, err := q.Enqueue(t.Context(), queue.Envelope{From: "a@example.org"}, rs, queuetest.Body(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func delivered(addrs ...string) []queue.Outcome {
	out := make([]queue.Outcome, len(addrs))
	for i, a := range addrs {
		out[i] = queue.Outcome{Addr: a, State: queue.StateDelivered, Reply: queue.Reply{Code: 250}, At: time.Now()}
	}
	return out
}

// Two nodes, three workers each, lease, deliver and release concurrently: every item is
// leased and delivered exactly once, and the queue ends empty.
func TestTwoNodesLeaseConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	nodes := []*postgres.Queue{openQ(t, dsn), openQ(t, dsn)}
	const n = 60
	want := make([]string, n)
	for i := range n {
		want[i] = enqueue(t, nodes[i%2], fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i), "x@one.test", "y@two.test")
	}
	now := time.Now()
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for w := range 6 {
		q, node := nodes[w%2], fmt.Sprintf("node%d/worker%d", w%2, w)
		wg.Go(func() {
			for range n { // bounded: every round delivers at least one item or stops
				items, err := q.Lease(t.Context(), node, now, 4, time.Hour)
				if err != nil || len(items) == 0 {
					if err != nil {
						t.Error(err)
					}
					return
				}
				for _, it := range items {
					if err := q.Report(t.Context(), it.ID, delivered("x@one.test", "y@two.test")); err != nil {
						t.Error(err)
					}
					if err := q.Release(t.Context(), it.ID, node, now.Add(time.Hour)); err != nil {
						t.Errorf("%s release %s: %v", node, it.ID, err)
					}
					mu.Lock()
					got = append(got, it.ID)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %d items, want each of %d exactly once", len(got), n)
	}
	if left, err := nodes[1].List(t.Context(), queue.Filter{}); err != nil || len(left) != 0 {
		t.Errorf("queue after delivery: %d items, %v", len(left), err)
	}
}

// Node A leases an item, delivers one recipient, and dies (its handle closes without a
// Release). Node B cannot take the item while A's lease holds, takes it after expiry
// with only the undelivered recipient pending, and finishes it; A, restarted, has lost it.
func TestDeadNodeLeaseExpires(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	a, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := openQ(t, dsn)
	id := enqueue(t, a, "Subject: x\r\n\r\nx\r\n", "done@one.test", "inflight@two.test")
	now := time.Now()
	const leaseFor = 5 * time.Minute
	items, err := a.Lease(ctx, "A", now, 10, leaseFor)
	if err != nil || len(items) != 1 {
		t.Fatalf("A leased %v, %v", items, err)
	}
	if err := a.Report(ctx, id, delivered("done@one.test")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // A dies mid-delivery
		t.Fatal(err)
	}
	if items, err := b.Lease(ctx, "B", now.Add(leaseFor-time.Second), 10, leaseFor); err != nil || len(items) != 0 {
		t.Fatalf("B leased %d items while A's lease holds (%v)", len(items), err)
	}
	later := now.Add(leaseFor + time.Second)
	items, err = b.Lease(ctx, "B", later, 10, leaseFor)
	if err != nil || len(items) != 1 || items[0].ID != id || items[0].LeaseOwner != "B" || items[0].Attempts != 2 {
		t.Fatalf("B after expiry leased %+v, %v", items, err)
	}
	if p := items[0].Pending(); len(p) != 1 || p[0].Addr != "inflight@two.test" {
		t.Fatalf("B would send to %+v, want only the recipient A had not delivered", p)
	}
	a2 := openQ(t, dsn) // A restarts
	if err := a2.Recover(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	if err := a2.Release(ctx, id, "A", later); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("restarted A releases B's item: %v, want ErrLeaseLost", err)
	}
	if it, err := b.Get(ctx, id); err != nil || it.LeaseOwner != "B" {
		t.Errorf("after A's Recover the item is %+v, %v; want still B's", it, err)
	}
	if err := b.Report(ctx, id, delivered("inflight@two.test")); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, id, "B", later.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Get(ctx, id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("finished item: %v, want ErrNotFound", err)
	}
	if err := a2.Release(ctx, id, "A", later); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("release of a finished item: %v, want ErrNotFound", err)
	}
}

// A body of several chunks is stored chunked and read back exactly through ReadAt at any
// offset, from several goroutines at once; reads past the end give io.EOF.
func TestLargeBodyChunks(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.DSN(t)
	q := openQ(t, dsn)
	body := make([]byte, 4*postgres.ChunkSize+1234)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	id := enqueue(t, q, string(body), "x@one.test")
	it, err := q.Get(ctx, id)
	if err != nil || it.Size != int64(len(body)) {
		t.Fatalf("Get = size %d, %v", it.Size, err)
	}
	b, err := q.OpenBody(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	all, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
	if err != nil || !bytes.Equal(all, body) {
		t.Fatalf("sequential read: %d octets, %v; equal %v", len(all), err, bytes.Equal(all, body))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 25 {
				off := r.Int64N(int64(len(body)))
				p := make([]byte, 1+r.IntN(2*postgres.ChunkSize))
				n, err := b.ReadAt(p, off)
				wantN := min(len(p), len(body)-int(off))
				if n != wantN || !bytes.Equal(p[:n], body[off:off+int64(n)]) || (n < len(p)) != errors.Is(err, io.EOF) {
					t.Errorf("ReadAt(%d octets at %d) = %d, %v; want %d", len(p), off, n, err, wantN)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := b.ReadAt(make([]byte, 10), int64(len(body))); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt(at end) = %d, %v; want 0, EOF", n, err)
	}
	// The item dropped while its body is open: reads of chunks not cached fail as not found.
	if err := q.Drop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadAt(make([]byte, 10), 0); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("ReadAt after Drop = %v, want ErrNotFound", err)
	}
}

// An empty body is an item of size 0 whose body reads as empty.
func TestEmptyBody(t *testing.T) {
	q := openQ(t, pgtest.DSN(t))
	id := enqueue(t, q, "", "x@one.test")
	b, err := q.OpenBody(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.ReadAt(make([]byte, 1), 0); b.Size() != 0 || n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("empty body: size %d, ReadAt %d, %v", b.Size(), n, err)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
}

// failingBody fails after its first chunk: Enqueue must store nothing.
type failingBody struct{ size int64 }

func (f failingBody) Size() int64 { return f.size }
func (f failingBody) ReadAt(p []byte, off int64) (int, error) {
	if off >= postgres.ChunkSize {
		return 0, errors.New("disk on fire")
	}
	clear(p)
	return len(p), nil
}

func TestEnqueueBodyErrorStoresNothing(t *testing.T) {
	q := openQ(t, pgtest.DSN(t))
	_, err := q.Enqueue(t.Context(), queue.Envelope{From: "a@example.org"}, []queue.Recipient{{Addr: "x@one.test"}},
		failingBody{size: 3 * postgres.ChunkSize})
	if err == nil {
		t.Fatal("Enqueue with a failing body succeeded")
	}
	if items, err := q.List(t.Context(), queue.Filter{}); err != nil || len(items) != 0 {
		t.Errorf("after a failed Enqueue: %d items, %v", len(items), err)
	}
}

// Nodes opening a new database together apply the schema once.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			q, err := postgres.Open(t.Context(), dsn)
			if err == nil {
				err = q.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	q := openQ(t, dsn)
	enqueue(t, q, "x", "x@one.test")
}
