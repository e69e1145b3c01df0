package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

// TestTwoNodesOneMailbox delivers into one mailbox through two stores on the same
// database (two nodes) at once: every UID is distinct, they are exactly 1..N, and the
// counters agree with the content.
func TestTwoNodesOneMailbox(t *testing.T) {
	dsn := pgtest.DSN(t)
	nodes := []*Store{openAt(t, dsn, Options{}), openAt(t, dsn, Options{})}
	ensure(t, nodes[0], acctA, acctB)
	const workers, each = 16, 12
	uids := make(chan store.UID, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		s := nodes[w%2]
		wg.Go(func() {
			for i := range each {
				content := fmt.Appendf(nil, "Subject: w%d m%d\r\n\r\nbody %d/%d\r\n", w, i, w, i)
				res, err := s.Deliver(t.Context(), store.Delivery{Body: bytes.NewReader(content),
					Targets: []store.DeliveryTarget{{Account: acctA}, {Account: acctB, Mailbox: "Archive"}}})
				if err != nil || res[0].Err != nil || res[1].Err != nil {
					t.Errorf("Deliver: %v %+v", err, res)
					return
				}
				uids <- res[0].UID
			}
		})
	}
	wg.Wait()
	close(uids)
	got := slices.Sorted(func(yield func(store.UID) bool) {
		for u := range uids {
			if !yield(u) {
				return
			}
		}
	})
	if len(got) != workers*each {
		t.Fatalf("%d deliveries, want %d", len(got), workers*each)
	}
	for i, u := range got {
		if u != store.UID(i+1) {
			t.Fatalf("UIDs not unique and gapless: position %d holds %d", i, u)
		}
	}
	for _, s := range nodes {
		m, err := s.Mailbox(t.Context(), acctA, "INBOX")
		if err != nil || m.Messages != workers*each || m.UIDNext != store.UID(workers*each+1) || m.HighestModSeq != workers*each {
			t.Errorf("INBOX seen from a node: %+v %v", m, err)
		}
	}
	checkInvariants(t, dsn)
}

// TestConcurrentMigrations opens a fresh database from three goroutines at once: every
// Open succeeds and each migration is recorded (applied) exactly once.
func TestConcurrentMigrations(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), Options{DSN: dsn, MaxConns: 2}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		if err := stores[i].Close(); err != nil {
			t.Error(err)
		}
	}
	c := sqlConn(t, dsn)
	if n := queryInt(t, c, `SELECT count(*) FROM schema_migrations`); n != int64(len(migrations)) {
		t.Errorf("%d migrations recorded, want %d", n, len(migrations))
	}
	if n := queryInt(t, c, `SELECT count(*) FROM meta`); n != 1 {
		t.Errorf("meta holds %d rows: a migration ran twice", n)
	}
	// A database migrated by a newer program is refused.
	if _, err := c.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), Options{DSN: dsn}); err == nil {
		t.Error("Open of a newer schema succeeded")
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}

// blobRows returns (refs) of every blob row, in id order.
func blobRefs(t *testing.T, dsn string) []int64 {
	t.Helper()
	rows, err := sqlConn(t, dsn).Query(t.Context(), `SELECT refs FROM blobs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBlobStoredOnce checks the content-addressed store: one body for many recipients
// and copies, references counted, a freed blob revived by the same content, then
// collected.
func TestBlobStoredOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ensure(t, s, acctA, acctB)
	content := []byte("Subject: once\r\n\r\nstored once\r\n")
	res := deliver(t, s, content, acctA, acctB, acctA)
	res = append(res, deliver(t, s, content, acctB)...)
	if _, err := s.Copy(t.Context(), acctA, res[0].Mailbox, []store.UID{1, 2}, res[0].Mailbox, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if got := blobRefs(t, dsn); !slices.Equal(got, []int64{6}) {
		t.Errorf("blob refs %v, want [6]", got)
	}
	c := sqlConn(t, dsn)
	if n := queryInt(t, c, `SELECT sum(length(data)) FROM blob_parts`); n != int64(len(content)) {
		t.Errorf("blob_parts hold %d bytes for one %d-byte body", n, len(content))
	}
	for _, a := range []store.AccountRef{acctA, acctB} {
		if err := s.DeleteAccount(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if got := blobRefs(t, dsn); !slices.Equal(got, []int64{0}) {
		t.Errorf("blob refs after deleting every holder %v, want [0] (free)", got)
	}
	// A delivery whose every target fails stores no body.
	other := []byte("Subject: nobody\r\n\r\nfor nobody\r\n")
	if r, err := s.Deliver(t.Context(), store.Delivery{Body: bytes.NewReader(other),
		Targets: []store.DeliveryTarget{{Account: acctA}}}); err != nil || !errors.Is(r[0].Err, store.ErrNotFound) {
		t.Fatalf("delivery to an unknown account: %+v %v", r, err)
	}
	if got := blobRefs(t, dsn); len(got) != 1 {
		t.Errorf("a delivery stored for nobody left a blob: %v", got)
	}
	ensure(t, s, acctA)
	r := deliver(t, s, content, acctA)
	if got := blobRefs(t, dsn); !slices.Equal(got, []int64{1}) {
		t.Errorf("blob refs after delivering freed content again %v, want [1]", got)
	}
	if got := readAll(t, s, acctA, r[0].MessageID); !bytes.Equal(got, content) {
		t.Errorf("revived body %q", got)
	}
	if _, err := s.Expunge(t.Context(), acctA, r[0].Mailbox, []store.UID{r[0].UID}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CollectBlobs(t.Context(), time.Hour, 100); err != nil || n != 0 {
		t.Errorf("CollectBlobs within the grace period deleted %d (%v)", n, err)
	}
	if n, err := s.CollectBlobs(t.Context(), 0, 100); err != nil || n != 1 {
		t.Errorf("CollectBlobs(0) deleted %d (%v), want 1", n, err)
	}
	if n := queryInt(t, c, `SELECT count(*) FROM blob_parts`); n != 0 {
		t.Errorf("%d parts left after collecting every blob", n)
	}
	checkInvariants(t, dsn)
}

// genBody is a large store.Body made up on the fly from its offset: the test never holds
// it whole. It records the largest single read.
type genBody struct {
	size int64
	mu   sync.Mutex
	max  int
}

func (g *genBody) Size() int64 { return g.size }

func (g *genBody) byteAt(off int64) byte {
	const head = "Subject: big\r\nContent-Type: text/plain\r\n\r\n"
	if off < int64(len(head)) {
		return head[off]
	}
	if off%78 == 76 {
		return '\r'
	}
	if off%78 == 77 {
		return '\n'
	}
	return byte('a' + (off/7)%26)
}

func (g *genBody) ReadAt(p []byte, off int64) (int, error) {
	g.mu.Lock()
	g.max = max(g.max, len(p))
	g.mu.Unlock()
	n := 0
	for ; n < len(p) && off+int64(n) < g.size; n++ {
		p[n] = g.byteAt(off + int64(n))
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestLargeBody stores a 20 MiB body: it is written and read a part at a time (no read
// of the body, and no row, larger than PartSize) and reads back identical.
func TestLargeBody(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ensure(t, s, acctA)
	g := &genBody{size: 20 << 20}
	want := sha256.New()
	if _, err := io.Copy(want, io.NewSectionReader(g, 0, g.size)); err != nil {
		t.Fatal(err)
	}
	g.max = 0
	res, err := s.Deliver(t.Context(), store.Delivery{Body: g, Targets: []store.DeliveryTarget{{Account: acctA}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("Deliver: %v %+v", err, res)
	}
	if g.max > PartSize {
		t.Errorf("delivery read %d bytes of the body at once, more than a part (%d)", g.max, PartSize)
	}
	c := sqlConn(t, dsn)
	parts, biggest := queryInt(t, c, `SELECT count(*) FROM blob_parts`), queryInt(t, c, `SELECT max(length(data)) FROM blob_parts`)
	if parts != g.size/PartSize || biggest != PartSize {
		t.Errorf("%d parts, largest %d bytes; want %d of %d", parts, biggest, g.size/PartSize, PartSize)
	}
	b, err := s.OpenBlob(t.Context(), acctA, res[0].MessageID)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.CopyBuffer(got, io.NewSectionReader(b, 0, b.Size()), make([]byte, 64<<10))
	if err != nil || n != g.size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("read back %d bytes (%v), same content: %v", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)))
	}
	if m := b.(*blob).max; m > PartSize {
		t.Errorf("the reader fetched %d bytes at once", m)
	}
	// A read across a part boundary, and past the end.
	p := make([]byte, 100)
	if k, err := b.ReadAt(p, PartSize-50); err != nil || k != 100 || p[0] != g.byteAt(PartSize-50) || p[99] != g.byteAt(PartSize+49) {
		t.Errorf("ReadAt across parts: %d %v", k, err)
	}
	if k, err := b.ReadAt(p, g.size-10); k != 10 || !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt at the end: %d %v, want 10 EOF", k, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, dsn)
}

func TestVanished(t *testing.T) {
	s := openAt(t, pgtest.DSN(t), Options{})
	ensure(t, s, acctA, acctB)
	var box store.MailboxID
	for i := range 5 {
		box = deliver(t, s, fmt.Appendf(nil, "Subject: %d\r\n\r\n", i), acctA)[0].Mailbox
	}
	m, _ := s.Mailbox(t.Context(), acctA, "INBOX")
	if _, err := s.Expunge(t.Context(), acctA, box, []store.UID{2}); err != nil {
		t.Fatal(err)
	}
	archive, err := s.Mailbox(t.Context(), acctA, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(t.Context(), acctA, box, []store.UID{4}, archive.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.Vanished(t.Context(), acctA, box, m.HighestModSeq)
	if err != nil || !slices.Equal(got, []store.UID{2, 4}) {
		t.Errorf("Vanished = %v, %v; want [2 4]", got, err)
	}
	after, _ := s.Mailbox(t.Context(), acctA, "INBOX")
	if got, err := s.Vanished(t.Context(), acctA, box, after.HighestModSeq); err != nil || len(got) != 0 {
		t.Errorf("Vanished since now = %v, %v", got, err)
	}
	if _, err := s.Vanished(t.Context(), acctB, box, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Vanished of another account's mailbox: %v", err)
	}
}

func TestCancelledContext(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	ensure(t, s, acctA)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader([]byte("x")), Targets: []store.DeliveryTarget{{Account: acctA}}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver with a cancelled context: %v", err)
	}
	if u, err := s.Usage(t.Context(), acctA); err != nil || u.Messages != 0 {
		t.Errorf("usage after a cancelled delivery %+v %v", u, err)
	}
	checkInvariants(t, dsn)
}

// TestMetaParsed checks that Deliver caches message.Parse's result with the message.
func TestMetaParsed(t *testing.T) {
	s := openAt(t, pgtest.DSN(t), Options{})
	ensure(t, s, acctA)
	msg := "From: Ann <ann@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@example.org>\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\nPDF\r\n--b--\r\n"
	r := deliver(t, s, []byte(msg), acctA)
	var meta []byte
	err := s.Messages(t.Context(), acctA, r[0].Mailbox, store.Query{}, func(m store.Message) error {
		meta = m.Meta
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var info message.Info
	if err := json.Unmarshal(meta, &info); err != nil {
		t.Fatalf("Meta %q: %v", meta, err)
	}
	if info.Subject != "Grüße" || info.MessageID != "m1@example.org" || info.Size != int64(len(msg)) || !info.HasAttachment {
		t.Errorf("parsed meta %+v", info)
	}
}

// TestSchemaIsolated checks the store keeps to its schema, so a database shared with
// other drivers' tables is fine.
func TestSchemaIsolated(t *testing.T) {
	dsn := pgtest.DSN(t)
	c := sqlConn(t, dsn)
	if _, err := c.Exec(t.Context(), `CREATE TABLE public.messages (x int)`); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, dsn, Options{})
	ensure(t, s, acctA)
	deliver(t, s, []byte("Subject: x\r\n\r\n"), acctA)
	if n := queryInt(t, c, `SELECT count(*) FROM public.messages`); n != 0 {
		t.Errorf("the store wrote into public.messages")
	}
}

// TestDeadlockRetried makes PostgreSQL abort a write transaction as a deadlock victim
// (40P01): write runs it again and it succeeds. The other transaction waits first, with a
// deadlock_timeout too long to matter, so ours is the one that finds the cycle.
func TestDeadlockRetried(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := openAt(t, dsn, Options{})
	c := sqlConn(t, dsn)
	if _, err := c.Exec(t.Context(), `INSERT INTO meta (key, value) VALUES ('x', 0), ('y', 0)`); err != nil {
		t.Fatal(err)
	}
	other := sqlConn(t, dsn)
	pid := make(chan int32, 1)
	xLocked := make(chan struct{})
	outside := make(chan error, 1)
	go func() { outside <- holdYThenX(t, other, pid, xLocked) }()
	var otherPID int32
	select {
	case otherPID = <-pid:
	case err := <-outside:
		t.Fatalf("the other transaction: %v", err)
	}
	attempts := 0
	err := s.write(t.Context(), func(w *wtx) error {
		attempts++
		if _, err := w.exec(`SELECT value FROM meta WHERE key = 'x' FOR UPDATE`); err != nil {
			return err
		}
		if attempts == 1 {
			close(xLocked)
			if err := waitForLock(t, c, otherPID); err != nil {
				return err
			}
		}
		_, err := w.exec(`UPDATE meta SET value = value + 1 WHERE key = 'y'`)
		return err
	})
	if err != nil || attempts != 2 {
		t.Errorf("write = %v after %d attempts, want success on the 2nd", err, attempts)
	}
	if err := <-outside; err != nil {
		t.Errorf("the other transaction: %v", err)
	}
	if v := queryInt(t, c, `SELECT value FROM meta WHERE key = 'y'`); v != 2 {
		t.Errorf("y = %d, want 2 (other transaction + our retry)", v)
	}
}

// holdYThenX locks y, reports its backend pid, and once x is locked by the store's
// transaction asks for x too.
func holdYThenX(t *testing.T, conn *pgx.Conn, pid chan<- int32, xLocked <-chan struct{}) error {
	ctx := t.Context()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	var p int32
	for _, q := range []string{`SET LOCAL deadlock_timeout = '1h'`, `UPDATE meta SET value = value + 1 WHERE key = 'y'`} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return errors.Join(err, tx.Rollback(ctx))
		}
	}
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&p); err != nil {
		return errors.Join(err, tx.Rollback(ctx))
	}
	pid <- p
	<-xLocked
	if _, err := tx.Exec(ctx, `SELECT value FROM meta WHERE key = 'x' FOR UPDATE`); err != nil {
		return errors.Join(err, tx.Rollback(ctx))
	}
	return tx.Commit(ctx)
}

// waitForLock waits (bounded) until backend pid waits for a lock.
func waitForLock(t *testing.T, c *pgx.Conn, pid int32) error {
	for range 2000 {
		var waiting bool
		err := c.QueryRow(t.Context(), `SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&waiting)
		if err != nil || waiting {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("the other transaction never waited for x")
}

// TestEnsureAccountRace creates one account from two nodes and many goroutines at once:
// one set of default mailboxes results, and every call succeeds.
func TestEnsureAccountRace(t *testing.T) {
	dsn := pgtest.DSN(t)
	nodes := []*Store{openAt(t, dsn, Options{}), openAt(t, dsn, Options{})}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := nodes[i%2].EnsureAccount(t.Context(), acctA); err != nil {
				t.Errorf("EnsureAccount: %v", err)
			}
		})
	}
	wg.Wait()
	boxes, err := nodes[0].Mailboxes(t.Context(), acctA)
	if err != nil || len(boxes) != len(store.DefaultMailboxes) {
		t.Errorf("%d mailboxes (%v), want %d", len(boxes), err, len(store.DefaultMailboxes))
	}
	seen := map[uint32]bool{}
	for _, m := range boxes {
		if seen[m.UIDValidity] {
			t.Errorf("UIDVALIDITY %d given twice", m.UIDValidity)
		}
		seen[m.UIDValidity] = true
	}
}
