package imapserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/directory"
	dirsqlite "mailgrid/internal/directory/sqlite"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/mail"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
	storesqlite "mailgrid/internal/store/sqlite"
)

// deadline bounds every wait in the tests (never asserted on).
const deadline = 30 * time.Second

// fixedNow makes APPEND internal dates reproducible.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("", 3600))

// world is a real stack: SQLite directory and store (publishing to a bus) in a temporary
// directory, with an account "user@local.test" (password "user-password").
type world struct {
	dir      *dirsqlite.Directory
	st       *storesqlite.Store
	bus      *bus.Bus
	user     directory.Account
	tlsConf  *tls.Config
	certFile string
	root     string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	w := &world{bus: bus.New(), root: root}
	var err error
	w.dir, err = dirsqlite.Open(ctx, filepath.Join(root, "directory.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeT(t, w.dir) })
	w.st, err = storesqlite.Open(ctx, storesqlite.Options{Dir: filepath.Join(root, "shard"), Publisher: w.bus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeT(t, w.st) })
	if err := w.dir.CreateDomain(ctx, directory.Domain{Name: "local.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	w.user = w.account(t, "user@local.test", "user-password", 0)
	w.certFile, w.tlsConf = selfSigned(t)
	return w
}

func closeT(t testing.TB, c io.Closer) {
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func (w *world) account(t testing.TB, addr, pass string, quota int64) directory.Account {
	t.Helper()
	ctx := context.Background()
	a, err := w.dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse(addr), Password: pass, QuotaBytes: quota})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.EnsureAccount(ctx, ref(a)); err != nil {
		t.Fatal(err)
	}
	return a
}

func ref(a directory.Account) store.AccountRef {
	return store.AccountRef{Domain: a.Address.Domain, ID: a.ID}
}

// deliver stores a message in a mailbox of a directly through the store.
func (w *world) deliver(t testing.TB, a directory.Account, mailbox, msg string, flags ...string) store.UID {
	t.Helper()
	body := bytesBody(strings.ReplaceAll(msg, "\n", "\r\n"))
	res, err := w.st.Deliver(context.Background(), store.Delivery{Body: body, InternalDate: fixedNow,
		Targets: []store.DeliveryTarget{{Account: ref(a), Mailbox: mailbox, Flags: flags}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %v", err, res)
	}
	return res[0].UID
}

// shards is the single-shard placement of the tests.
type shards map[string]store.Store

func (m shards) Shard(name string) (store.Store, error) {
	if st, ok := m[name]; ok {
		return st, nil
	}
	return nil, fmt.Errorf("unknown shard %q", name)
}

type bytesBody string

func (b bytesBody) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (b bytesBody) Size() int64 { return int64(len(b)) }

// server starts an IMAP server on 127.0.0.1:0 and returns its address.
func (w *world) server(t testing.TB, tweak func(*imapserver.Options)) (*imapserver.Server, string) {
	t.Helper()
	opt := imapserver.Options{
		Hostname: "imap.test", TLSConfig: w.tlsConf, Directory: w.dir,
		Shards: shards{directory.LocalShard: w.st}, Bus: w.bus,
		Logger: testLogger(t), FailedLoginDelay: -1, Now: func() time.Time { return fixedNow },
		SpoolDir: t.TempDir(), SpoolMemory: 1024,
	}
	if tweak != nil {
		tweak(&opt)
	}
	srv, err := imapserver.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv, l.Addr().String()
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("IMAP_TEST_LOG") != "" {
		return obs.NewLogger(os.Stderr, "debug", "text")
	}
	return obs.Discard()
}

// selfSigned makes a certificate for 127.0.0.1 and imap.test. 127.0.0.1 is also a DNS
// name in it, for clients that match the host name only against names (mbsync).
func selfSigned(t testing.TB) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "imap.test"},
		DNSNames: []string{"imap.test", "localhost", "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// client is a raw IMAP client: it sends lines and reads responses up to the tagged one.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // may already be closed by the test
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expectPrefix("* OK ")
	return c
}

// line reads one response line (CRLF removed), with any literals inline.
func (c *client) line() string {
	c.t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(deadline)); err != nil {
		c.t.Fatal(err)
	}
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (after %q)", err, b.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		var n int
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") {
			if _, err := fmt.Sscanf(l[i:], "{%d}", &n); err == nil {
				buf := make([]byte, n)
				if _, err := io.ReadFull(c.r, buf); err != nil {
					c.t.Fatalf("read literal: %v", err)
				}
				b.WriteString("\n")
				b.Write(buf)
				continue
			}
		}
		return b.String()
	}
}

func (c *client) expectPrefix(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// cmd sends a tagged command and returns the untagged lines and the tagged status line
// (without the tag).
func (c *client) cmd(line string) ([]string, string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("a%d", c.n)
	c.send(tag + " " + line + "\r\n")
	return c.until(tag)
}

func (c *client) until(tag string) ([]string, string) {
	c.t.Helper()
	var untagged []string
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed.
func (c *client) ok(line string) []string {
	c.t.Helper()
	u, st := c.cmd(line)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", line, st, u)
	}
	return u
}

func (c *client) startTLS() {
	c.t.Helper()
	c.ok("STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

// login dials, starts TLS and logs in as user@local.test.
func login(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.startTLS()
	c.ok("LOGIN user@local.test user-password")
	return c
}

func contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

var _ = bytes.NewReader

func strconvItoa(n int) string { return fmt.Sprint(n) }
