package pgnotify_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"mailgrid/internal/bus"
	"mailgrid/internal/bus/pgnotify"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for something another goroutine or the server does.
const wait = 20 * time.Second

var (
	acctA = store.AccountRef{Domain: "example.com", ID: 1}
	acctB = store.AccountRef{Domain: "example.com", ID: 2}
)

func listen(t *testing.T, dsn string, b *bus.Bus) *pgnotify.Listener {
	t.Helper()
	l, err := pgnotify.Listen(t.Context(), dsn, b, nil)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Listener.Close: %v", err)
		}
	})
	return l
}

// sender is another session of the database, as another node's store would be.
func sender(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close sender: %v", err)
		}
	})
	return c
}

func notify(t *testing.T, c *pgx.Conn, origin string, changes ...store.Change) {
	t.Helper()
	ps, err := pgnotify.Payloads(origin, changes)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if _, err := c.Exec(t.Context(), `SELECT pg_notify($1, $2)`, pgnotify.Channel, p); err != nil {
			t.Fatal(err)
		}
	}
}

func added(a store.AccountRef, uid store.UID) store.Change {
	return store.Change{Kind: store.MessageAdded, Account: a, Mailbox: 1, UID: uid, ModSeq: uint64(uid), Flags: []string{}}
}

// next receives one change or fails after the bounded wait.
func next(t *testing.T, sub *bus.Subscription) store.Change {
	t.Helper()
	select {
	case c := <-sub.C:
		return c
	case <-time.After(wait):
		t.Fatal("no change arrived")
		return store.Change{}
	}
}

func closed(t *testing.T, what string, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(wait):
		t.Fatalf("%s: not signalled", what)
	}
}

func open(c <-chan struct{}) bool {
	select {
	case <-c:
		return false
	default:
		return true
	}
}

// TestPublishesOthersSkipsOwn sends a notification with the listener's own origin, then
// one from another node: only the second reaches the bus. Notifications arrive in the
// order sent, so having seen the second proves the first was skipped.
func TestPublishesOthersSkipsOwn(t *testing.T) {
	dsn := pgtest.DSN(t)
	b := bus.New()
	l := listen(t, dsn, b)
	sub := b.Subscribe(acctA, 16)
	defer sub.Close()
	other := b.Subscribe(acctB, 16)
	defer other.Close()
	c := sender(t, dsn)

	notify(t, c, l.Origin(), added(acctA, 1))
	notify(t, c, "another-node", added(acctA, 2), added(acctB, 1),
		store.Change{Kind: store.FlagsChanged, Account: acctA, Mailbox: 1, UID: 2, ModSeq: 3, Flags: []string{`\Seen`}})
	if got := next(t, sub); got.UID != 2 || got.Kind != store.MessageAdded {
		t.Fatalf("first change %+v, want the other node's UID 2 (own notification skipped)", got)
	}
	if got := next(t, sub); got.Kind != store.FlagsChanged || !slices.Equal(got.Flags, []string{`\Seen`}) {
		t.Errorf("second change %+v", got)
	}
	if got := next(t, other); got.Account != acctB || got.UID != 1 {
		t.Errorf("other account's change %+v", got)
	}
	select {
	case c := <-sub.C:
		t.Errorf("unexpected change %+v", c)
	default:
	}
}

// TestReconnect kills the listener's server session: the listener reconnects, signals
// a resync of every account, and receives notifications again.
func TestReconnect(t *testing.T) {
	dsn := pgtest.DSN(t)
	b := bus.New()
	l := listen(t, dsn, b)
	sub := b.Subscribe(acctA, 16)
	defer sub.Close()
	c := sender(t, dsn)
	all, one := l.Resynced(), l.AccountResynced(acctA)
	if !open(all) || !open(one) {
		t.Fatal("resync signalled before any reconnect")
	}
	var killed int
	err := c.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, pgnotify.ApplicationName).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate listener session: %d sessions, %v", killed, err)
	}
	closed(t, "Resynced after reconnect", all)
	closed(t, "AccountResynced after reconnect", one)
	if !open(l.Resynced()) {
		t.Error("the next Resynced channel is already closed")
	}
	if got := next(t, sub); got.Kind != store.AccountResync || !sub.Overflowed() {
		t.Errorf("the reconnect did not resync the bus's sessions: %+v, overflowed %v", got, sub.Overflowed())
	}
	sub = b.Subscribe(acctA, 16) // an overflowed subscription gets nothing more: resubscribe, as sessions do
	defer sub.Close()
	notify(t, c, "another-node", added(acctA, 1))
	if got := next(t, sub); got.UID != 1 {
		t.Errorf("after reconnect: %+v", got)
	}
}

// TestAccountResync checks a resync marker: the named account's watchers are signalled,
// other accounts' are not, and the bus gets one AccountResync change, not the changes.
func TestAccountResync(t *testing.T) {
	dsn := pgtest.DSN(t)
	b := bus.New()
	l := listen(t, dsn, b)
	sub := b.Subscribe(acctA, 16)
	defer sub.Close()
	c := sender(t, dsn)
	a, other, all := l.AccountResynced(acctA), l.AccountResynced(acctB), l.Resynced()
	var many []store.Change
	for i := range 40_000 {
		many = append(many, store.Change{Kind: store.MessageExpunged, Account: acctA, Mailbox: 1, UID: store.UID(i + 1), ModSeq: uint64(i + 1)})
	}
	notify(t, c, "another-node", many...)
	closed(t, "AccountResynced(A)", a)
	if got := next(t, sub); got.Kind != store.AccountResync || !sub.Overflowed() {
		t.Errorf("the marker did not resync A's sessions on the bus: %+v", got)
	}
	sub = b.Subscribe(acctA, 16) // resubscribe, as sessions do after an overflow
	defer sub.Close()
	notify(t, c, "another-node", added(acctA, 50_000))
	if got := next(t, sub); got.UID != 50_000 {
		t.Errorf("after the marker the bus got %+v, want only the next change", got)
	}
	if !open(other) || !open(all) {
		t.Error("a marker for one account signalled another account or everyone")
	}
}

// TestBadPayload: something on the channel that is not ours makes everyone resync.
func TestBadPayload(t *testing.T) {
	dsn := pgtest.DSN(t)
	l := listen(t, dsn, bus.New())
	all := l.Resynced()
	c := sender(t, dsn)
	if _, err := c.Exec(t.Context(), `SELECT pg_notify($1, 'not json')`, pgnotify.Channel); err != nil {
		t.Fatal(err)
	}
	closed(t, "Resynced after a bad payload", all)
}

// TestStopsWithContext: the listener ends when its context does (goleak checks the
// goroutine is gone), and Close afterwards is fine.
func TestStopsWithContext(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx, cancel := context.WithCancel(t.Context())
	l, err := pgnotify.Listen(ctx, dsn, bus.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestListenBadDSN(t *testing.T) {
	if _, err := pgnotify.Listen(t.Context(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", bus.New(), nil); err == nil {
		t.Fatal("Listen on a closed port succeeded")
	}
}
