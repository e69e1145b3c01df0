package fetch_test

// The fetcher against our own POP3 server (pop3server, in process, over a real socket, with
// STLS and a certificate the client verifies): the remote mailbox and the local account
// live in one real SQLite directory and store.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/fetch"
	fetchsqlite "mailgrid/internal/fetch/sqlite"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/linetest"
)

const (
	remotePass = "remote-secret-password"
	folder     = "Fetched"
)

type world struct {
	*deliverytest.Env
	remote, local directory.Account
	fs            fetch.Store
	f             *fetch.Fetcher
	clock         *clock
	mu            sync.Mutex
	addr          string // where the fake DNS sends pop.remote.test
	rootCAs       *x509.CertPool
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newWorld starts a POP3 server for remote@remote.test and a fetcher for
// user@local.test; localQuota bounds the local account (0: none).
func newWorld(t testing.TB, localQuota int64) *world {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "remote.test", 0, 0)
	e.Domain(t, "local.test", 0, 0)
	w := &world{Env: e, clock: &clock{t: time.Unix(1_800_000_000, 0)}}
	w.remote = e.Account(t, "remote@remote.test", remotePass, 0)
	w.local = e.Account(t, "user@local.test", "local-password", localQuota)
	if _, err := e.Store.CreateMailbox(t.Context(), deliverytest.Ref(w.local), folder, ""); err != nil {
		t.Fatal(err)
	}
	certFile, srvTLS := linetest.SelfSigned(t, "pop.remote.test")
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	w.rootCAs = x509.NewCertPool()
	w.rootCAs.AppendCertsFromPEM(pem)
	srv, err := pop3server.New(pop3server.Options{Hostname: "pop.remote.test", TLSConfig: srvTLS, Directory: e.Dir, Shards: e.Shards})
	if err != nil {
		t.Fatal(err)
	}
	w.addr = linetest.Serve(t, srv)
	w.fs, err = fetchsqlite.Open(t.Context(), fetchsqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.fs.Close(); err != nil {
			t.Error(err)
		}
	})
	w.f = w.fetcher(t)
	return w
}

func (w *world) fetcher(t testing.TB) *fetch.Fetcher {
	t.Helper()
	f, err := fetch.New(fetch.Options{
		Store: w.fs, Deliver: fetch.StoreDeliverer{Dir: w.Dir, Shards: w.Shards}, Node: "n1",
		TLS: &tls.Config{RootCAs: w.rootCAs, MinVersion: tls.VersionTLS12}, Dial: w.dial, AllowPrivate: true, Timeout: linetest.Deadline, Now: w.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// dial sends every connection to the current server address (a fake resolver).
func (w *world) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	w.mu.Lock()
	addr := w.addr
	w.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (w *world) setAddr(a string) { w.mu.Lock(); w.addr = a; w.mu.Unlock() }

// add stores an external account of the local user with the given mode.
func (w *world) add(t testing.TB, keep bool, mode fetch.TLS, password string) fetch.Account {
	t.Helper()
	key, err := w.f.Key(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := fetch.Seal(key, password)
	if err != nil {
		t.Fatal(err)
	}
	a := fetch.Account{Owner: deliverytest.Ref(w.local), Host: "pop.remote.test", Port: 110, TLS: mode, User: "remote@remote.test",
		Secret: sealed, Folder: folder, Keep: keep, Interval: 10 * time.Minute}
	if mode == fetch.TLSNone {
		a.Host = "127.0.0.1"
	}
	if a.ID, err = w.fs.Add(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	a, err = w.fs.Get(t.Context(), a.Owner, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send puts n messages in the remote mailbox, numbered from first.
func (w *world) send(t testing.TB, first, n int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		msg := fmt.Sprintf("From: someone@elsewhere.test\r\nTo: remote@remote.test\r\nSubject: remote %d\r\nMessage-ID: <%d@elsewhere.test>\r\n\r\nbody %d\r\n.line with a dot\r\n", i, i, i)
		res, err := w.Store.Deliver(t.Context(), store.Delivery{Body: strings.NewReader(msg), Targets: []store.DeliveryTarget{{Account: deliverytest.Ref(w.remote)}}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
}

// subjects lists the Subject lines of a mailbox of a, in UID order.
func (w *world) subjects(t testing.TB, a directory.Account, mbox string) []string {
	t.Helper()
	var out []string
	for _, m := range w.Messages(t, a, mbox) {
		for l := range strings.SplitSeq(string(m.Body), "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

func (w *world) fetch(t testing.TB, a fetch.Account) (fetch.Result, error) {
	t.Helper()
	a, err := w.fs.Get(t.Context(), a.Owner, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return w.f.Fetch(t.Context(), a)
}

func TestFetchKeepDedupesByUIDL(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 3)
	a := w.add(t, true, fetch.TLSStartTLS, remotePass)
	res, err := w.fetch(t, a)
	if err != nil || res.Fetched != 3 || res.Deleted != 0 {
		t.Fatalf("first run: %+v %v", res, err)
	}
	if got := w.subjects(t, w.local, folder); strings.Join(got, ",") != "remote 1,remote 2,remote 3" {
		t.Fatalf("local folder: %q", got)
	}
	if m := w.Messages(t, w.local, folder)[0]; !strings.Contains(string(m.Body), "\r\n.line with a dot\r\n") {
		t.Fatalf("byte-stuffing not undone: %q", m.Body)
	}
	res, err = w.fetch(t, a)
	if err != nil || res.Fetched != 0 {
		t.Fatalf("second run fetched again: %+v %v", res, err)
	}
	w.send(t, 4, 1)
	res, err = w.fetch(t, a)
	if err != nil || res.Fetched != 1 {
		t.Fatalf("third run: %+v %v", res, err)
	}
	if got := w.subjects(t, w.local, folder); len(got) != 4 || got[3] != "remote 4" {
		t.Fatalf("local folder after three runs: %q", got)
	}
	if n := len(w.Messages(t, w.remote, "")); n != 4 {
		t.Fatalf("keep mode: the remote holds %d, want 4", n)
	}
	a, _ = w.fs.Get(t.Context(), a.Owner, a.ID)
	if a.LastError != "" || a.LastCount != 1 || !a.LastRun.Equal(w.clock.Now()) {
		t.Fatalf("recorded state %+v", a)
	}
}

func TestFetchDeleteMode(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 2)
	a := w.add(t, false, fetch.TLSStartTLS, remotePass)
	res, err := w.fetch(t, a)
	if err != nil || res.Fetched != 2 || res.Deleted != 2 {
		t.Fatalf("run: %+v %v", res, err)
	}
	if n := len(w.Messages(t, w.remote, "")); n != 0 {
		t.Fatalf("delete mode: the remote still holds %d", n)
	}
	if got := w.subjects(t, w.local, folder); len(got) != 2 {
		t.Fatalf("local folder: %q", got)
	}
	if seen, err := w.fs.Seen(t.Context(), a.ID); err != nil || len(seen) != 0 {
		t.Fatalf("UIDLs of deleted messages are kept: %v %v", seen, err)
	}
}

// TestFetchOverQuota: the local account is full, so nothing is deleted on the remote and
// nothing is remembered; the run reports the full mailbox.
func TestFetchOverQuota(t *testing.T) {
	w := newWorld(t, 1)
	w.send(t, 1, 2)
	a := w.add(t, false, fetch.TLSStartTLS, remotePass)
	_, err := w.fetch(t, a)
	if !errors.Is(err, fetch.ErrMailboxFull) {
		t.Fatalf("run into a full mailbox: %v", err)
	}
	if n := len(w.Messages(t, w.remote, "")); n != 2 {
		t.Fatalf("the remote lost mail that was not stored: %d left", n)
	}
	if seen, _ := w.fs.Seen(t.Context(), a.ID); len(seen) != 0 {
		t.Fatalf("remembered unstored mail: %v", seen)
	}
	a, _ = w.fs.Get(t.Context(), a.Owner, a.ID)
	if !strings.Contains(a.LastError, "mailbox is full") {
		t.Fatalf("recorded error %q", a.LastError)
	}
}

// TestFetchRemoteDownRetried: a refused connection is recorded on the account and the
// account is due again one interval later, when the run succeeds.
func TestFetchRemoteDownRetried(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 1)
	a := w.add(t, true, fetch.TLSStartTLS, remotePass)
	up := w.addr
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.setAddr(l.Addr().String())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	w.f.RunDue(t.Context())
	a, _ = w.fs.Get(t.Context(), a.Owner, a.ID)
	if !strings.Contains(a.LastError, "cannot connect") || !a.NextRun.Equal(w.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("after a failed run: error %q next %v", a.LastError, a.NextRun)
	}
	w.setAddr(up)
	w.clock.Add(9 * time.Minute)
	w.f.RunDue(t.Context())
	if n := len(w.Messages(t, w.local, folder)); n != 0 {
		t.Fatal("retried before the interval")
	}
	w.clock.Add(time.Minute)
	w.f.RunDue(t.Context())
	a, _ = w.fs.Get(t.Context(), a.Owner, a.ID)
	if n := len(w.Messages(t, w.local, folder)); n != 1 || a.LastError != "" {
		t.Fatalf("retry: %d fetched, error %q", n, a.LastError)
	}
}

func TestFetchTestAndSecrets(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 2)
	a := w.add(t, true, fetch.TLSStartTLS, "wrong-password-xyz")
	if n, err := w.f.Test(t.Context(), a, remotePass); err != nil || n != 2 {
		t.Fatalf("Test with the right password: %d %v", n, err)
	}
	_, err := w.f.Test(t.Context(), a, "wrong-password-xyz")
	var re *fetch.RemoteError
	if !errors.As(err, &re) || re.Cmd != "PASS" || strings.Contains(err.Error(), "wrong-password-xyz") {
		t.Fatalf("Test with a wrong password: %v", err)
	}
	if _, err := w.fetch(t, a); err == nil || strings.Contains(err.Error(), "wrong-password-xyz") {
		t.Fatalf("run with a wrong password: %v", err)
	}
	if strings.Contains(string(a.Secret), "wrong-password-xyz") {
		t.Fatal("the stored secret holds the password in clear")
	}
	// Implicit TLS against a plain-text server fails the handshake; no TLS off loopback is refused.
	a.TLS = fetch.TLSImplicit
	if _, err := w.f.Test(t.Context(), a, remotePass); err == nil {
		t.Fatal("implicit TLS to a plain port succeeded")
	}
	a.TLS = fetch.TLSNone
	if _, err := w.f.Test(t.Context(), a, remotePass); err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Fatalf("no TLS to a non-loopback host: %v", err)
	}
	// A loopback server that allows logins without TLS (as a local Dovecot may).
	plain, err := pop3server.New(pop3server.Options{Hostname: "pop.remote.test", Directory: w.Dir, Shards: w.Shards, AllowInsecureAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	w.setAddr(linetest.Serve(t, plain))
	a.Host = "127.0.0.1"
	if n, err := w.f.Test(t.Context(), a, remotePass); err != nil || n != 2 {
		t.Fatalf("no TLS to loopback: %d %v", n, err)
	}
}

// TestFetchLease: while another node holds the account's lease, a fetch is refused with
// ErrBusy and fetches nothing.
func TestFetchLease(t *testing.T) {
	w := newWorld(t, 0)
	w.send(t, 1, 1)
	a := w.add(t, true, fetch.TLSStartTLS, remotePass)
	now := w.clock.Now()
	if ok, err := w.fs.Claim(t.Context(), a.ID, "other-node", now, now.Add(fetch.LeaseTime)); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := w.fetch(t, a); !errors.Is(err, fetch.ErrBusy) {
		t.Fatalf("fetch under another node's lease: %v", err)
	}
	w.fetcher(t).RunDue(t.Context())
	if n := len(w.Messages(t, w.local, folder)); n != 0 {
		t.Fatalf("fetched %d under another node's lease", n)
	}
	w.clock.Add(fetch.LeaseTime)
	if res, err := w.fetch(t, a); err != nil || res.Fetched != 1 {
		t.Fatalf("after the lease expired: %+v %v", res, err)
	}
}
