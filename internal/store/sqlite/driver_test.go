package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	acctA = store.AccountRef{Domain: "example.com", ID: 1}
	acctB = store.AccountRef{Domain: "example.com", ID: 2}
)

func ensure(t *testing.T, s *Store, accts ...store.AccountRef) {
	t.Helper()
	for _, a := range accts {
		if err := s.EnsureAccount(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func deliver(t *testing.T, s *Store, content []byte, targets ...store.AccountRef) []store.DeliveryResult {
	t.Helper()
	var ts []store.DeliveryTarget
	for _, a := range targets {
		ts = append(ts, store.DeliveryTarget{Account: a})
	}
	res, err := s.Deliver(t.Context(), store.Delivery{Body: bytes.NewReader(content), Targets: ts})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return res
}

// blobRows returns (refs) of every blob row, by id order.
func blobRefs(t *testing.T, s *Store) []int64 {
	t.Helper()
	rows, err := s.rdb.QueryContext(t.Context(), `SELECT refs FROM blobs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	return out
}

func packBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, packDir, "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		n += fileSize(t, f)
	}
	return n
}

func readAll(t *testing.T, s *Store, a store.AccountRef, id int64) []byte {
	t.Helper()
	b, err := s.OpenBlob(t.Context(), a, id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
	if err := errors.Join(err, b.Close()); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestBlobStoredOnce checks the content-addressed store on disk: one body for many
// recipients and copies, references counted, a freed blob revived by the same content.
func TestBlobStoredOnce(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, nil, 0)
	ensure(t, s, acctA, acctB)
	content := []byte("Subject: once\r\n\r\nstored once\r\n")
	res := deliver(t, s, content, acctA, acctB, acctA)
	res = append(res, deliver(t, s, content, acctB)...)
	if _, err := s.Copy(t.Context(), acctA, res[0].Mailbox, []store.UID{1, 2}, res[0].Mailbox, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	if got := blobRefs(t, s); !slices.Equal(got, []int64{6}) {
		t.Errorf("blob refs %v, want [6]", got)
	}
	if n := packBytes(t, dir); n != int64(len(content)) {
		t.Errorf("packs hold %d bytes for one %d-byte body", n, len(content))
	}
	for _, a := range []store.AccountRef{acctA, acctB} {
		if err := s.DeleteAccount(t.Context(), a); err != nil {
			t.Fatal(err)
		}
	}
	if got := blobRefs(t, s); !slices.Equal(got, []int64{0}) {
		t.Errorf("blob refs after deleting every holder %v, want [0] (free)", got)
	}
	ensure(t, s, acctA)
	r := deliver(t, s, content, acctA)
	if got := blobRefs(t, s); !slices.Equal(got, []int64{1}) {
		t.Errorf("blob refs after delivering freed content again %v, want [1]", got)
	}
	if n := packBytes(t, dir); n != int64(len(content)) {
		t.Errorf("revived blob was written again: packs hold %d bytes", n)
	}
	if got := readAll(t, s, acctA, r[0].MessageID); !bytes.Equal(got, content) {
		t.Errorf("revived body %q", got)
	}
	checkInvariants(t, s)
}

// TestPackRotationAndGarbage rotates packs at a small size and checks that bytes left in
// a pack by a batch that never committed are skipped, not overwritten or referenced.
func TestPackRotationAndGarbage(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, nil, 10<<10)
	ensure(t, s, acctA)
	var ids []int64
	var bodies [][]byte
	for i := range 6 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 4<<10)
		ids = append(ids, deliver(t, s, b, acctA)[0].MessageID)
		bodies = append(bodies, b)
	}
	packs, _ := filepath.Glob(filepath.Join(dir, packDir, "*.pack"))
	if len(packs) != 3 {
		t.Errorf("%d packs for 6 x 4 KiB at a 10 KiB limit, want 3", len(packs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash after appending but before COMMIT leaves unreferenced bytes at the end.
	cur := packs[len(packs)-1]
	f, err := os.OpenFile(cur, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("garbage of a batch that never committed")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, cur)
	s = openAt(t, dir, nil, 10<<10)
	next := []byte("Subject: after\r\n\r\nafter the garbage\r\n")
	ids = append(ids, deliver(t, s, next, acctA)[0].MessageID)
	bodies = append(bodies, next)
	if after := fileSize(t, cur); after != before+int64(len(next)) {
		t.Errorf("pack grew from %d to %d, want appended after the garbage", before, after)
	}
	for i, id := range ids {
		if got := readAll(t, s, acctA, id); !bytes.Equal(got, bodies[i]) {
			t.Errorf("body %d after reopen: %d bytes, %q...", i, len(got), got[:min(len(got), 10)])
		}
	}
}

// TestTwoStoresOneShard opens the same shard twice (as the CLI would from another
// process) and delivers through both at once: the SQLite write lock serialises the pack
// appends, so every body reads back intact through either store.
func TestTwoStoresOneShard(t *testing.T) {
	dir := t.TempDir()
	s1 := openAt(t, dir, nil, 64<<10)
	s2 := openAt(t, dir, nil, 64<<10)
	ensure(t, s1, acctA)
	type got struct {
		id   int64
		body []byte
	}
	results := make(chan got, 200)
	var wg sync.WaitGroup
	for w := range 10 {
		s := []*Store{s1, s2}[w%2]
		wg.Go(func() {
			for i := range 10 {
				b := bytes.Repeat(fmt.Appendf(nil, "w%d-m%d;", w, i), 500)
				res, err := s.Deliver(context.Background(), store.Delivery{Body: bytes.NewReader(b),
					Targets: []store.DeliveryTarget{{Account: acctA}}})
				if err != nil || res[0].Err != nil {
					t.Errorf("Deliver: %v %+v", err, res)
					return
				}
				results <- got{res[0].MessageID, b}
			}
		})
	}
	wg.Wait()
	close(results)
	n := 0
	for r := range results {
		n++
		for _, s := range []*Store{s1, s2} {
			if b := readAll(t, s, acctA, r.id); !bytes.Equal(b, r.body) {
				t.Fatalf("message %d reads back wrong through one of the stores", r.id)
			}
		}
	}
	if m, err := s2.Mailbox(t.Context(), acctA, "INBOX"); err != nil || m.Messages != n || int(m.UIDNext) != n+1 {
		t.Errorf("INBOX %+v %v after %d deliveries", m, err, n)
	}
	checkInvariants(t, s1)
}

func TestVanished(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
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
	s := openAt(t, t.TempDir(), nil, 0)
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
}

func TestPragmasAndSchema(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, nil, 0)
	var mode string
	var sync, fk, version int
	err := s.wdb.QueryRowContext(t.Context(), `SELECT journal_mode, synchronous, foreign_keys FROM
		pragma_journal_mode(), pragma_synchronous(), pragma_foreign_keys()`).Scan(&mode, &sync, &fk)
	// synchronous=NORMAL (1): the committer syncs the WAL itself after COMMIT (commit_sync.go).
	if err != nil || mode != "wal" || sync != 1 || fk != 1 {
		t.Errorf("writer pragmas journal_mode=%q synchronous=%d foreign_keys=%d (%v); want wal, 1 (NORMAL), 1", mode, sync, fk, err)
	}
	if _, err := s.rdb.ExecContext(t.Context(), `INSERT INTO meta (key, value) VALUES ('x', 1)`); err == nil {
		t.Errorf("the read pool can write")
	}
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("schema version %d (%v), want %d", version, err, len(migrations))
	}
	if _, err := s.wdb.ExecContext(t.Context(), `UPDATE schema_version SET version = 999`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(t.Context(), Options{Dir: dir}); err == nil {
		t.Errorf("Open of a newer schema succeeded")
		if err := s2.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestMetaParsed checks that Deliver caches message.Parse's result with the message.
func TestMetaParsed(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
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

// TestMessagesNoMeta: Query.NoMeta leaves Meta nil and every other field, the UID range,
// ChangedSince and Limit as without it.
func TestMessagesNoMeta(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ensure(t, s, acctA)
	var mbox store.MailboxID
	for i := range 5 {
		mbox = deliver(t, s, []byte(fmt.Sprintf("Subject: m%d\r\n\r\nbody %d\r\n", i, i)), acctA)[0].Mailbox
	}
	if _, err := s.StoreFlags(t.Context(), acctA, mbox, store.FlagUpdate{UIDs: []store.UID{2, 4}, Op: store.FlagsAdd, Flags: []string{"$Work"}}); err != nil {
		t.Fatal(err)
	}
	list := func(q store.Query) []store.Message {
		var out []store.Message
		if err := s.Messages(t.Context(), acctA, mbox, q, func(m store.Message) error {
			out = append(out, m)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, q := range []store.Query{{}, {MinUID: 2, MaxUID: 4}, {ChangedSince: 5}, {MinUID: 2, Limit: 2}} {
		full := list(q)
		q.NoMeta = true
		bare := list(q)
		if len(full) == 0 || len(bare) != len(full) {
			t.Fatalf("%+v: %d messages without meta, %d with", q, len(bare), len(full))
		}
		for i, m := range bare {
			if m.Meta != nil {
				t.Errorf("%+v: UID %d has Meta with NoMeta", q, m.UID)
			}
			if len(full[i].Meta) == 0 {
				t.Errorf("%+v: UID %d has no Meta without NoMeta", q, full[i].UID)
			}
			m.Meta = full[i].Meta
			if !reflect.DeepEqual(m, full[i]) {
				t.Errorf("%+v: NoMeta gave %+v, want %+v", q, m, full[i])
			}
		}
	}
}
