package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"mailgrid/internal/bus"
	"mailgrid/internal/cluster"
	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	dirpg "mailgrid/internal/directory/postgres"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
	storepg "mailgrid/internal/store/postgres"
	"mailgrid/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a directory and two shards (s1, s2) on the machine's PostgreSQL, each shard
// store publishing to its own bus (as two groups of nodes would see them).
type env struct {
	t      testing.TB
	dir    *dirpg.Directory
	st     map[string]*storepg.Store
	bus    map[string]*bus.Bus
	dsn    map[string]string // by shard name, and "directory"
	shards delivery.StaticShards
	pipe   *delivery.Pipeline
	eng    *cluster.Engine
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, st: map[string]*storepg.Store{}, bus: map[string]*bus.Bus{}, dsn: map[string]string{},
		shards: delivery.StaticShards{}}
	e.dsn["directory"] = pgtest.DSN(t)
	dir, err := dirpg.Open(ctx, e.dsn["directory"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Close() })
	e.dir = dir
	for _, name := range []string{"s1", "s2"} {
		dsn := pgtest.DSN(t)
		b := bus.New()
		st, err := storepg.Open(ctx, storepg.Options{DSN: dsn, Publisher: b})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		if _, err := dir.AddShard(ctx, dirpg.Shard{Name: name, DSN: dsn}); err != nil {
			t.Fatal(err)
		}
		e.st[name], e.bus[name], e.dsn[name], e.shards[name] = st, b, dsn, st
	}
	if err := dir.CreateDomain(ctx, directory.Domain{Name: "example.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	e.pipe = delivery.New(delivery.Options{Directory: dir, Shards: e.shards, Hostname: "mx.example.test"})
	e.eng = &cluster.Engine{Dir: dir, Journal: dir, Shards: e.shards, Owner: "test", Log: testLogger(t)}
	return e
}

// account creates addr on shard and its default mailboxes there.
func (e *env) account(addr, shard string) (directory.Account, store.AccountRef) {
	e.t.Helper()
	a, err := e.dir.CreateAccount(context.Background(), directory.NewAccount{Address: mail.MustParse(addr),
		Password: "pw", Shard: shard})
	if err != nil {
		e.t.Fatal(err)
	}
	ref := store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
	if err := e.st[shard].EnsureAccount(context.Background(), ref); err != nil {
		e.t.Fatal(err)
	}
	return a, ref
}

// message is a test message of about size bytes with a unique Message-ID.
func message(id string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender@remote.test\r\nTo: user@example.test\r\nSubject: test %s\r\nMessage-ID: <%s>\r\n\r\n", id, id)
	line := strings.Repeat("abcdefghij", 7) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

func newID() string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return hex.EncodeToString(r[:]) + "@remote.test"
}

// seed stores n messages of size bytes in mailbox of ref directly (no pipeline).
func seed(t testing.TB, st store.Store, ref store.AccountRef, mailbox string, n, size int) {
	t.Helper()
	for i := range n {
		res, err := st.Deliver(context.Background(), store.Delivery{Body: bytes.NewReader(message(newID(), size)),
			Targets: []store.DeliveryTarget{{Account: ref, Mailbox: mailbox}}})
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
}

// deliver sends one message to rcpt through the delivery pipeline as an SMTP client
// would: a temporary failure is retried (up to a bound), a permanent one fails the test.
// It returns how many temporary failures it saw.
func (e *env) deliver(ctx context.Context, rcpt, id string) (temp int, err error) {
	body := message(id, 4096)
	for attempt := range 200 {
		envl := deliveryEnvelope(rcpt)
		res, err := e.pipe.Deliver(ctx, envl, bytes.NewReader(body))
		if err == nil && res[0].Err == nil {
			return temp, nil
		}
		var de *delivery.Error
		if err == nil {
			de = res[0].Err
		} else if !errors.As(err, &de) {
			return temp, err
		}
		if !de.Temporary {
			return temp, fmt.Errorf("permanent failure: %v", de)
		}
		temp++
		select {
		case <-ctx.Done():
			return temp, ctx.Err()
		case <-time.After(time.Duration(min(attempt+1, 10)) * 10 * time.Millisecond):
		}
	}
	return temp, fmt.Errorf("message %s: still failing after 200 attempts", id)
}

// snapshot is an account's mailboxes and messages as an IMAP client caches them.
type snapshot map[string]boxSnap // by mailbox name

type boxSnap struct {
	uidValidity uint32
	uidNext     store.UID
	msgs        map[store.UID]msgSnap
}

type msgSnap struct {
	flags  string
	blobID string
	modseq uint64
}

func take(t testing.TB, st store.Store, ref store.AccountRef) snapshot {
	t.Helper()
	ctx := context.Background()
	boxes, err := st.Mailboxes(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	s := snapshot{}
	for _, b := range boxes {
		bs := boxSnap{uidValidity: b.UIDValidity, uidNext: b.UIDNext, msgs: map[store.UID]msgSnap{}}
		if err := st.Messages(ctx, ref, b.ID, store.Query{NoMeta: true}, func(m store.Message) error {
			bs.msgs[m.UID] = msgSnap{flags: strings.Join(m.Flags, " "), blobID: m.BlobID, modseq: m.ModSeq}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s[b.Name] = bs
	}
	return s
}

// messageIDs reads the Message-ID of every message in the account (each body's head).
func messageIDs(t testing.TB, st store.Store, ref store.AccountRef) map[string]int {
	t.Helper()
	ctx := context.Background()
	boxes, err := st.Mailboxes(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, b := range boxes {
		if err := st.Messages(ctx, ref, b.ID, store.Query{NoMeta: true}, func(m store.Message) error {
			bl, err := st.OpenBlob(ctx, ref, m.ID)
			if err != nil {
				return err
			}
			defer func() { _ = bl.Close() }()
			head := make([]byte, min(1024, bl.Size()))
			if _, err := bl.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			_, rest, ok := strings.Cut(string(head), "Message-ID: <")
			id, _, ok2 := strings.Cut(rest, ">")
			if !ok || !ok2 {
				return fmt.Errorf("UID %d: no Message-ID", m.UID)
			}
			out[id]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func short() bool { return testing.Short() || os.Getenv("MAILGRID_MOVE_MESSAGES") == "small" }

func deliveryEnvelope(rcpt string) *delivery.Envelope {
	return &delivery.Envelope{From: mail.MustParse("sender@remote.test"),
		Recipients: []delivery.Recipient{{Addr: mail.MustParse(rcpt)}}, Received: time.Now()}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// isTemporary reports a 4xx delivery error.
func isTemporary(err error) bool {
	var de *delivery.Error
	return errors.As(err, &de) && de.Temporary
}
