// Package linetest is what the tests of mailgrid's line-protocol servers (POP3,
// ManageSieve, and others) share: a self-signed certificate, a server started on
// loopback and shut down at the end of the test, a raw client over a real socket that
// checks CRLF line ends, and a recorder for the delays a server asks for (so tests of
// failed-login delays never wait).
//
// The raw client is deliberately dumb: it writes what the test says, byte for byte, so
// tests can send what no well-behaved client library would (oversize lines, pipelined
// commands before STARTTLS, bare LF). Tests that need a real client use one we did not
// write (Python's poplib, sieve-connect, ...).
package linetest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Deadline bounds every network wait of a test.
const Deadline = 30 * time.Second

// SelfSigned makes a certificate for name, localhost and 127.0.0.1; it returns the PEM
// file of the certificate (for clients that want a CA file) and a server config.
func SelfSigned(t testing.TB, name string) (certFile string, conf *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name, "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
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
	certFile = filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// Server is a protocol server as the app runs it.
type Server interface {
	Serve(l net.Listener) error
	Shutdown(ctx context.Context) error
}

// Serve runs srv on 127.0.0.1:0 and returns its address. At the end of the test it is
// shut down (within Deadline), and an error from Shutdown or Serve fails the test.
func Serve(t testing.TB, srv Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), Deadline)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	})
	return l.Addr().String()
}

// SleepLog records the delays a server asked for instead of waiting them: give its
// Sleep as the server's sleep function.
type SleepLog struct {
	mu sync.Mutex
	d  []time.Duration
}

// Sleep records d and returns at once.
func (l *SleepLog) Sleep(_ context.Context, d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Take returns the delays recorded since the last Take.
func (l *SleepLog) Take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.d
	l.d = nil
	return d
}

// Client is a raw line client over a real socket. Every method fails the test on an
// error; the connection is closed at the end of the test.
type Client struct {
	T    testing.TB
	Conn net.Conn
	R    *bufio.Reader
}

// Dial connects to addr with Deadline on the whole connection.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // may be closed by the test already
	if err := conn.SetDeadline(time.Now().Add(Deadline)); err != nil {
		t.Fatal(err)
	}
	return &Client{T: t, Conn: conn, R: bufio.NewReader(conn)}
}

// Send writes line and CRLF.
func (c *Client) Send(line string) {
	c.T.Helper()
	if _, err := c.Conn.Write([]byte(line + "\r\n")); err != nil {
		c.T.Fatalf("send %q: %v", line, err)
	}
}

// Line reads one line, which must end in CRLF, and returns it without the CRLF.
func (c *Client) Line() string {
	c.T.Helper()
	l, err := c.R.ReadString('\n')
	if err != nil {
		c.T.Fatalf("read reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.T.Fatalf("reply line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// Expect reads one line and checks it is want.
func (c *Client) Expect(want string) {
	c.T.Helper()
	if got := c.Line(); got != want {
		c.T.Fatalf("got %q, want %q", got, want)
	}
}

// ExpectPrefix reads one line, checks it starts with prefix and returns it.
func (c *Client) ExpectPrefix(prefix string) string {
	c.T.Helper()
	l := c.Line()
	if !strings.HasPrefix(l, prefix) {
		c.T.Fatalf("reply %q, want prefix %q", l, prefix)
	}
	return l
}

// Handshake runs a TLS client handshake (any certificate) and switches to it.
func (c *Client) Handshake() {
	c.T.Helper()
	tc := tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.T.Fatalf("TLS handshake: %v", err)
	}
	c.Conn = tc
	c.R = bufio.NewReader(tc)
}

// Closed checks that the server closed the connection (reading gives an error).
func (c *Client) Closed() {
	c.T.Helper()
	l, err := c.R.ReadString('\n')
	if err == nil {
		c.T.Fatalf("connection still open, got %q", l)
	}
}
