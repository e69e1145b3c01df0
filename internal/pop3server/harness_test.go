package pop3server_test

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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/store"
)

const (
	userAddr = "user@local.test"
	userPass = "user-password"
)

// world is a real directory and store (SQLite in t.TempDir()) with one account, a
// self-signed certificate, and a POP3 server started on demand.
type world struct {
	*deliverytest.Env
	user     directory.Account
	certFile string
	tlsConf  *tls.Config // server side
	sleeps   *sleepLog
}

func newWorld(t testing.TB) *world {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{})
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
func (w *world) options() pop3server.Options {
	return pop3server.Options{
		Hostname: "pop.test", TLSConfig: w.tlsConf, Directory: w.Dir, Shards: w.Shards,
		AuthFailDelay: 2 * time.Second, Sleep: w.sleeps.sleep,
	}
}

// serve starts a server with opt on 127.0.0.1:0; it is shut down at the end of the test.
func (w *world) serve(t testing.TB, opt pop3server.Options) (*pop3server.Server, string) {
	t.Helper()
	srv, err := pop3server.New(opt)
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
	stop := func() {
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
	}
	t.Cleanup(stop)
	return srv, l.Addr().String()
}

// start is serve with the default options, tweaked.
func (w *world) start(t testing.TB, tweak func(*pop3server.Options)) string {
	t.Helper()
	opt := w.options()
	if tweak != nil {
		tweak(&opt)
	}
	_, addr := w.serve(t, opt)
	return addr
}

// deliver stores messages in the user's INBOX directly through the store.
func (w *world) deliver(t testing.TB, msgs ...[]byte) {
	t.Helper()
	for _, m := range msgs {
		res, err := w.Store.Deliver(context.Background(), store.Delivery{
			Body:    bytes.NewReader(m),
			Targets: []store.DeliveryTarget{{Account: deliverytest.Ref(w.user)}},
		})
		if err != nil || res[0].Err != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
}

// inbox returns the bodies in the user's INBOX, in UID order.
func (w *world) inbox(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range w.Messages(t, w.user, "") {
		out = append(out, m.Body)
	}
	return out
}

// testMessage is a CRLF message of about size octets whose body has lines starting
// with "." (to exercise byte-stuffing) and a distinct subject.
func testMessage(n, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: sender@remote.test\r\nTo: %s\r\nSubject: message %d\r\nMessage-ID: <%d@remote.test>\r\n\r\n", userAddr, n, n)
	for i := 0; b.Len() < size; i++ {
		switch i % 7 {
		case 3:
			b.WriteString(".a line starting with a dot\r\n")
		case 5:
			b.WriteString("..\r\n")
		default:
			fmt.Fprintf(&b, "line %d of message %d, some text to fill the body up\r\n", i, n)
		}
	}
	return b.Bytes()
}

// client is a raw POP3 client over a real socket.
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

// dialGreeted dials and checks the greeting.
func dialGreeted(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.expectPrefix("+OK")
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one reply line without CRLF.
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

func (c *client) expectPrefix(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("reply %q, want prefix %q", l, prefix)
	}
	return l
}

// cmd sends line and returns the one-line reply.
func (c *client) cmd(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// multi reads the lines of a multi-line reply body up to the terminating ".", with
// byte-stuffing undone, each line followed by CRLF.
func (c *client) multi() []byte {
	c.t.Helper()
	var b bytes.Buffer
	for i := 0; i < 1_000_000; i++ {
		l := c.line()
		if l == "." {
			return b.Bytes()
		}
		b.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
	}
	c.t.Fatal("multi-line reply without end")
	return nil
}

// stls upgrades the connection after a +OK to STLS.
func (c *client) stls() {
	c.t.Helper()
	c.send("STLS")
	c.expectPrefix("+OK")
	c.handshake()
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

// login does STLS and USER/PASS.
func (c *client) login(user, pass string) {
	c.t.Helper()
	c.stls()
	c.send("USER " + user)
	c.expectPrefix("+OK")
	c.send("PASS " + pass)
	c.expectPrefix("+OK")
}

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
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pop.test"},
		DNSNames: []string{"pop.test", "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
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

// staticShards gives the server a store wrapped by a test (e.g. one that blocks).
func staticShards(st store.Store) store.Shards {
	return delivery.StaticShards{directory.LocalShard: st}
}

// waitABit yields to the server between bounded retries (never asserted on).
func waitABit() { time.Sleep(5 * time.Millisecond) }

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
