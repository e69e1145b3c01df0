package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
	"mailgrid/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// schemas gives each test of the suite its own schema in one database (creating a
// database per test costs more than the test), and the same one when the suite reopens.
type schemas struct {
	dsn string
	mu  sync.Mutex
	m   map[*testing.T]string
}

func (d *schemas) get(t *testing.T) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[*testing.T]string{}
	}
	if s, ok := d.m[t]; ok {
		return s
	}
	s := fmt.Sprintf("conformance_%d", len(d.m)+1)
	d.m[t] = s
	// Runs after the last store of t is closed: the database agrees with itself.
	t.Cleanup(func() { checkInvariantsIn(t, d.dsn, s) })
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// openAt opens a store on dsn, closed by the test's cleanup.
func openAt(t testing.TB, dsn string, opt Options) *Store {
	t.Helper()
	opt.DSN = dsn
	if opt.Logger == nil {
		opt.Logger = testLogger(t)
	}
	if opt.MaxConns == 0 {
		opt.MaxConns = 8
	}
	s, err := Open(t.Context(), opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	d := &schemas{dsn: pgtest.DSN(t)}
	storetest.Run(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.dsn, Options{Publisher: pub, Schema: d.get(t)})
	})
}

func TestBadSchema(t *testing.T) {
	for _, s := range []string{"Upper", "with space", "1st", `x"; DROP`} {
		if _, err := Open(t.Context(), Options{DSN: "postgres://127.0.0.1:1/x", Schema: s}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Open with schema %q: %v, want ErrInvalid", s, err)
		}
	}
}

func TestOpenNeedsDSN(t *testing.T) {
	if _, err := Open(t.Context(), Options{}); err == nil {
		t.Fatal("Open without DSN succeeded")
	}
}

func TestCloseThenCall(t *testing.T) {
	s := openAt(t, pgtest.DSN(t), Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.EnsureAccount(t.Context(), store.AccountRef{Domain: "example.com", ID: 1})
	if err != ErrClosed {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}

// TestNoTextIndexer: a store opened without the background indexer (an administration
// process) delivers and searches as ever: nothing is indexed behind its back, and a body
// search indexes what it needs itself.
func TestNoTextIndexer(t *testing.T) {
	s := openAt(t, pgtest.DSN(t), Options{NoTextIndexer: true})
	if s.idx != nil {
		t.Fatal("NoTextIndexer: the store runs a background indexer")
	}
	ensure(t, s, acctA)
	res := deliver(t, s, []byte("Subject: x\r\n\r\nquokka sighting\r\n"), acctA)[0]
	uids, err := s.SearchText(t.Context(), acctA, res.Mailbox, store.TextQuery{Needle: "quokka"})
	if err != nil {
		t.Fatal(err)
	}
	if len(uids) != 1 || uids[0] != res.UID {
		t.Fatalf("SearchText = %v, want [%d]", uids, res.UID)
	}
}
