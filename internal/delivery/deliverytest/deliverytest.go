// Package deliverytest builds a real delivery stack for tests: the SQLite directory, one
// SQLite store shard, the SQLite outbound queue and the SQLite filter state (quarantine,
// Sieve scripts, Bayes data) in a test's temporary directory, and a delivery.Pipeline
// over them (with the filter chains a test builds), plus helpers to create domains and accounts and to read
// back what was stored. Tests of every package that accepts mail (delivery, smtpserver,
// later LMTP and the web API) use it, so they exercise the drivers that run in production.
package deliverytest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	dirsqlite "mailgrid/internal/directory/sqlite"
	"mailgrid/internal/filter"
	filtersqlite "mailgrid/internal/filter/sqlite"
	"mailgrid/internal/mail"
	"mailgrid/internal/queue"
	queuesqlite "mailgrid/internal/queue/sqlite"
	"mailgrid/internal/store"
	storesqlite "mailgrid/internal/store/sqlite"
)

// Env is one delivery stack.
type Env struct {
	Dir      *dirsqlite.Directory
	Store    *storesqlite.Store
	Queue    *queuesqlite.Queue
	Filter   *filtersqlite.DB // filter state; also the pipeline's quarantine
	Shards   delivery.StaticShards
	Pipeline *delivery.Pipeline
	Root     string // the temporary directory holding everything
}

// Options tune New.
type Options struct {
	// WrapStore, if set, wraps the store the pipeline sees (e.g. to block Deliver).
	WrapStore func(store.Store) store.Store
	Logger    *slog.Logger
	Hostname  string
	// Chains, if set, builds the pipeline's filter chains once the stack is open.
	Chains func(*Env) *filter.Chains
	// SRS, if set, rewrites senders of redirected copies (delivery.Options.SRS).
	SRS *delivery.SRS
}

// New opens a fresh stack in t.TempDir(); everything is closed at the end of the test.
func New(t testing.TB, opt Options) *Env {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := dirsqlite.Open(ctx, filepath.Join(root, "directory.db"), dirsqlite.WithLogger(log))
	if err != nil {
		t.Fatalf("open directory: %v", err)
	}
	t.Cleanup(func() { closeT(t, "directory", dir) })
	st, err := storesqlite.Open(ctx, storesqlite.Options{Dir: filepath.Join(root, "shard-local"), Logger: log})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { closeT(t, "store", st) })
	q, err := queuesqlite.Open(ctx, filepath.Join(root, "queue.db"), filepath.Join(root, "queue-bodies"))
	if err != nil {
		t.Fatalf("open queue: %v", err)
	}
	t.Cleanup(func() { closeT(t, "queue", q) })
	fdb, err := filtersqlite.Open(ctx, filtersqlite.Options{Dir: filepath.Join(root, "filter"), Logger: log})
	if err != nil {
		t.Fatalf("open filter state: %v", err)
	}
	t.Cleanup(func() { closeT(t, "filter state", fdb) })
	var seen store.Store = st
	if opt.WrapStore != nil {
		seen = opt.WrapStore(st)
	}
	host := opt.Hostname
	if host == "" {
		host = "mx.test"
	}
	e := &Env{Dir: dir, Store: st, Queue: q, Filter: fdb, Root: root, Shards: delivery.StaticShards{directory.LocalShard: seen}}
	var chains *filter.Chains
	if opt.Chains != nil {
		chains = opt.Chains(e)
	}
	e.Pipeline = delivery.New(delivery.Options{Directory: dir, Shards: e.Shards, Queue: q, Hostname: host, Logger: log,
		Filters: chains, Quarantine: fdb, SRS: opt.SRS})
	return e
}

func closeT(t testing.TB, what string, c io.Closer) {
	if err := c.Close(); err != nil {
		t.Errorf("close %s: %v", what, err)
	}
}

// Domain creates an enabled domain with the given limits (zero = unlimited).
func (e *Env) Domain(t testing.TB, name string, maxMessage, maxQuota int64) {
	t.Helper()
	d := directory.Domain{Name: name, Enabled: true, MaxMessageBytes: maxMessage, MaxQuotaBytes: maxQuota}
	if err := e.Dir.CreateDomain(context.Background(), d); err != nil {
		t.Fatalf("create domain %s: %v", name, err)
	}
}

// Account creates an account (quota 0 = the domain's) and its mailboxes.
func (e *Env) Account(t testing.TB, addr, password string, quota int64) directory.Account {
	t.Helper()
	ctx := context.Background()
	a, err := e.Dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(addr), Password: password, QuotaBytes: quota})
	if err != nil {
		t.Fatalf("create account %s: %v", addr, err)
	}
	if err := e.Store.EnsureAccount(ctx, Ref(a)); err != nil {
		t.Fatalf("ensure account %s: %v", addr, err)
	}
	return a
}

// Alias creates an alias from source ("local@domain" or "@domain") to targets.
func (e *Env) Alias(t testing.TB, source string, targets ...string) {
	t.Helper()
	at := indexAt(source)
	dom, src := source[at+1:], source
	if at > 0 {
		src = mail.MustParse(source).Key()
	}
	if err := e.Dir.CreateAlias(context.Background(), directory.Alias{Source: src, Domain: dom, Targets: targets}); err != nil {
		t.Fatalf("create alias %s: %v", source, err)
	}
}

func indexAt(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return i
		}
	}
	return -1
}

// Ref is the store reference of an account.
func Ref(a directory.Account) store.AccountRef {
	return store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
}

// Stored is one message read back from the store.
type Stored struct {
	store.Message
	Body []byte
}

// Messages returns the messages of a mailbox (by name; "" = INBOX), bodies included.
func (e *Env) Messages(t testing.TB, a directory.Account, mailbox string) []Stored {
	t.Helper()
	ctx := context.Background()
	if mailbox == "" {
		mailbox = store.Inbox
	}
	mb, err := e.Store.Mailbox(ctx, Ref(a), mailbox)
	if err != nil {
		t.Fatalf("mailbox %s of %s: %v", mailbox, a.Address, err)
	}
	var out []Stored
	err = e.Store.Messages(ctx, Ref(a), mb.ID, store.Query{}, func(m store.Message) error {
		out = append(out, Stored{Message: m})
		return nil
	})
	if err != nil {
		t.Fatalf("messages of %s: %v", a.Address, err)
	}
	for i := range out {
		b, err := e.Store.OpenBlob(ctx, Ref(a), out[i].ID)
		if err != nil {
			t.Fatalf("open blob: %v", err)
		}
		out[i].Body = make([]byte, b.Size())
		if _, err := b.ReadAt(out[i].Body, 0); err != nil && err != io.EOF {
			t.Fatalf("read blob: %v", err)
		}
		closeT(t, "blob", b)
	}
	return out
}

// Total counts the messages of every mailbox of every given account.
func (e *Env) Total(t testing.TB, accts ...directory.Account) int {
	t.Helper()
	n := 0
	for _, a := range accts {
		mbs, err := e.Store.Mailboxes(context.Background(), Ref(a))
		if err != nil {
			t.Fatalf("mailboxes of %s: %v", a.Address, err)
		}
		for _, mb := range mbs {
			n += mb.Messages
		}
	}
	return n
}

// QueueItems lists every item of the outbound queue.
func (e *Env) QueueItems(t testing.TB) []QueueItem {
	t.Helper()
	ctx := context.Background()
	items, err := e.Queue.List(ctx, queueFilter())
	if err != nil {
		t.Fatalf("queue list: %v", err)
	}
	out := make([]QueueItem, len(items))
	for i, it := range items {
		out[i].Item = it
		b, err := e.Queue.OpenBody(ctx, it.ID)
		if err != nil {
			t.Fatalf("queue body: %v", err)
		}
		out[i].Body = make([]byte, b.Size())
		if _, err := b.ReadAt(out[i].Body, 0); err != nil && err != io.EOF {
			t.Fatalf("read queue body: %v", err)
		}
		closeT(t, "queue body", b)
	}
	return out
}

// Deadline is a generous bound for waits in tests (never asserted on).
const Deadline = 30 * time.Second

// QueueItem is one queued message with its body.
type QueueItem struct {
	queue.Item
	Body []byte
}

func queueFilter() queue.Filter { return queue.Filter{} }
