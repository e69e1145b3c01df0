package managesieve_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/managesieve"
)

const (
	userAddr = "user@local.test"
	userPass = "user-password"
)

// world is a real delivery stack (SQLite directory, store, queue and filter state in
// t.TempDir(), with the Sieve mailet at the local stage) with one account, a
// self-signed certificate, and a ManageSieve server started on demand over the same
// filter state.
type world struct {
	*deliverytest.Env
	user     directory.Account
	certFile string
	tlsConf  *tls.Config // server side
	sleeps   *sleepLog
}

func newWorld(t testing.TB) *world {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{Chains: func(e *deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		rule := filter.Rule{Mailet: &mailets.Sieve{Scripts: e.Filter, Vacations: e.Filter, Hostname: "mx.local.test"}}
		if err := c.Add(filter.StageLocal, "", rule); err != nil {
			t.Fatal(err)
		}
		return c
	}})
	e.Domain(t, "local.test", 0, 0)
	w := &world{Env: e, sleeps: &sleepLog{}}
	w.user = e.Account(t, userAddr, userPass, 0)
	w.certFile, w.tlsConf = selfSigned(t)
	return w
}

// sleepLog records the delays the server asked for instead of waiting them.
type sleepLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *sleepLog) sleep(_ context.Context, d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *sleepLog) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.d
	l.d = nil
	return d
}

// options are the server options tests start from.
func (w *world) options() managesieve.Options {
	return managesieve.Options{
		Hostname: "sieve.test", TLSConfig: w.tlsConf, Directory: w.Dir, Scripts: w.Filter,
		FailedLoginDelay: 2 * time.Second, Sleep: w.sleeps.sleep,
	}
}

// serve starts a server with opt on 127.0.0.1:0; it is shut down at the end of the test.
func (w *world) serve(t testing.TB, opt managesieve.Options) (*managesieve.Server, string) {
	t.Helper()
	srv, err := managesieve.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), deliverytest.Deadline)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	})
	return srv, l.Addr().String()
}

// start is serve with the default options, tweaked.
func (w *world) start(t testing.TB, tweak func(*managesieve.Options)) string {
	t.Helper()
	opt := w.options()
	if tweak != nil {
		tweak(&opt)
	}
	_, addr := w.serve(t, opt)
	return addr
}

// client is a raw ManageSieve client over a real socket.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // may be closed by the test already
	if err := conn.SetDeadline(time.Now().Add(deliverytest.Deadline)); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// dialGreeted dials and reads the capabilities and the OK of the greeting.
func dialGreeted(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.untilOK()
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s + "\r\n")); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// line reads one line without CRLF.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// untilOK reads lines up to an OK, NO or BYE line and returns the lines before it and
// the final one.
func (c *client) untilOK() ([]string, string) {
	c.t.Helper()
	var lines []string
	for range 10_000 {
		l := c.line()
		if final(l) {
			if !strings.HasPrefix(l, "OK") {
				c.t.Fatalf("reply %q after %q", l, lines)
			}
			return lines, l
		}
		lines = append(lines, l)
	}
	c.t.Fatal("no final response")
	return nil, ""
}

func final(l string) bool {
	for _, k := range []string{"OK", "NO", "BYE"} {
		if l == k || strings.HasPrefix(l, k+" ") {
			return true
		}
	}
	return false
}

// cmd sends a command and returns its final response line (after any data lines).
func (c *client) cmd(s string) string {
	c.t.Helper()
	c.send(s)
	for range 10_000 {
		if l := c.line(); final(l) {
			return l
		}
	}
	c.t.Fatal("no final response")
	return ""
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.line(); got != want {
		c.t.Fatalf("got %q, want %q", got, want)
	}
}

func (c *client) handshake() {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
}

// starttls upgrades the connection and reads the capabilities sent again.
func (c *client) starttls() []string {
	c.t.Helper()
	c.send("STARTTLS")
	c.expect(`OK "Begin TLS negotiation now"`)
	c.handshake()
	caps, _ := c.untilOK()
	return caps
}

// login does STARTTLS and AUTHENTICATE "PLAIN" with an initial response.
func (c *client) login(user, pass string) {
	c.t.Helper()
	c.starttls()
	if got := c.cmd(authPlain(user, pass)); got != `OK "Logged in"` {
		c.t.Fatalf("login: %q", got)
	}
}

func authPlain(user, pass string) string {
	return `AUTHENTICATE "PLAIN" "` + plain(user, pass) + `"`
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// literal is a client literal-c2s.
func literal(s string) string { return fmt.Sprintf("{%d+}\r\n%s", len(s), s) }

// closed asserts that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err == nil {
		c.t.Fatalf("connection still open, got %q", l)
	}
}

func selfSigned(t testing.TB) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sieve.test"},
		DNSNames: []string{"sieve.test", "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return file, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// waitABit yields to the server between bounded retries (never asserted on).
func waitABit() { time.Sleep(5 * time.Millisecond) }
