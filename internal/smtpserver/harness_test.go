package smtpserver_test

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
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/smtpserver"
	"mailgrid/internal/store"
)

// fixedNow makes Received and Date headers reproducible.
var fixedNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("", 3600))

const fixedDate = "Sat, 14 Mar 2026 15:09:26 +0100"

// world is a delivery stack with the usual accounts.
type world struct {
	*deliverytest.Env
	user, sender, other, utf8 directory.Account
	certFile                  string
	tlsConf                   *tls.Config
	spool                     string
}

func newWorld(t *testing.T, opt deliverytest.Options) *world {
	t.Helper()
	e := deliverytest.New(t, opt)
	e.Domain(t, "local.test", 0, 0)
	w := &world{Env: e}
	w.user = e.Account(t, "user@local.test", "user-password", 0)
	w.sender = e.Account(t, "sender@local.test", "sender-password", 0)
	w.other = e.Account(t, "other@local.test", "other-password", 0)
	w.utf8 = e.Account(t, "jürgen@local.test", "utf8-password", 0)
	w.certFile, w.tlsConf = selfSigned(t)
	w.spool = filepath.Join(t.TempDir(), "spool")
	if err := os.MkdirAll(w.spool, 0o700); err != nil {
		t.Fatal(err)
	}
	return w
}

// accounts returns the named ones of the usual accounts.
func (w *world) accounts(names ...string) []directory.Account {
	all := map[string]directory.Account{"user": w.user, "sender": w.sender, "other": w.other, "utf8": w.utf8}
	out := make([]directory.Account, len(names))
	for i, n := range names {
		out[i] = all[n]
	}
	return out
}

// server starts one service on 127.0.0.1:0 and returns its address.
func (w *world) server(t *testing.T, mode smtpserver.Mode, tweak func(*smtpserver.Options)) (*smtpserver.Server, string) {
	t.Helper()
	opt := smtpserver.Options{
		Mode: mode, Hostname: "mx.test", TLSConfig: w.tlsConf, Pipeline: w.Pipeline, Directory: w.Dir,
		SpoolDir: w.spool, SpoolMemory: 1024, Now: func() time.Time { return fixedNow },
	}
	if tweak != nil {
		tweak(&opt)
	}
	srv, err := smtpserver.New(opt)
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
		ctx, cancel := context.WithTimeout(context.Background(), deliverytest.Deadline)
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

// nothingStored fails if any account holds a message or the queue an item, or the spool
// directory a file.
func (w *world) nothingStored(t *testing.T) {
	t.Helper()
	if n := w.Total(t, w.user, w.sender, w.other, w.utf8); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
	if items := w.QueueItems(t); len(items) != 0 {
		t.Errorf("%d queue items, want none", len(items))
	}
	w.spoolEmpty(t)
}

func (w *world) spoolEmpty(t *testing.T) {
	t.Helper()
	ents, err := os.ReadDir(w.spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("spool directory holds %d files", len(ents))
	}
}

func selfSigned(t *testing.T) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		DNSNames: []string{"mx.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
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
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
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

// client is a raw SMTP client for the cases no real client will send.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	pool *x509.CertPool
}

func dial(t *testing.T, addr string, w *world) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // may be closed by the server already
	if err := conn.SetDeadline(time.Now().Add(deliverytest.Deadline)); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if w != nil {
		c.pool = x509.NewCertPool()
		c.pool.AppendCertsFromPEM(mustRead(t, w.certFile))
	}
	c.expect(220)
	return c
}

// rawDial connects without reading the greeting.
func rawDial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(deliverytest.Deadline)); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func itoa(n int) string { return strconv.Itoa(n) }

// shutdown stops srv and waits for every session to end.
func shutdown(t *testing.T, srv *smtpserver.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deliverytest.Deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func mustRead(t *testing.T, f string) []byte {
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply reads one (possibly multi-line) reply.
func (c *client) reply() (int, string) {
	c.t.Helper()
	var text []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read reply: %v (so far %q)", err, text)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 4 {
			c.t.Fatalf("short reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			c.t.Fatalf("bad reply line %q", line)
		}
		text = append(text, line[4:])
		if line[3] == ' ' {
			return code, strings.Join(text, "\n")
		}
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// cmd sends one command line and returns its reply.
func (c *client) cmd(line string) (int, string) {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.reply()
}

// expect reads a reply and checks its code (and enhanced code prefix if given).
func (c *client) expect(code int, enhanced ...string) string {
	c.t.Helper()
	got, text := c.reply()
	c.check(got, text, code, enhanced...)
	return text
}

func (c *client) check(got int, text string, code int, enhanced ...string) {
	c.t.Helper()
	if got != code {
		c.t.Fatalf("reply %d %s, want %d", got, text, code)
	}
	for _, e := range enhanced {
		if !strings.HasPrefix(text, e) {
			c.t.Fatalf("reply %d %s, want enhanced %s", got, text, e)
		}
	}
}

func (c *client) ok(line string, code int, enhanced ...string) string {
	c.t.Helper()
	got, text := c.cmd(line)
	c.check(got, text, code, enhanced...)
	return text
}

func (c *client) startTLS() {
	c.t.Helper()
	c.ok("STARTTLS", 220)
	tc := tls.Client(c.conn, &tls.Config{RootCAs: c.pool, ServerName: "mx.test"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func (c *client) login(user, pass string) {
	c.t.Helper()
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	c.ok("AUTH PLAIN "+ir, 235)
}

// closed reports whether the server closed the connection (reads EOF).
func (c *client) closed() bool {
	c.t.Helper()
	_, err := c.r.ReadByte()
	return err != nil
}

// data sends DATA and a raw, already dot-stuffed body that must end with CRLF.CRLF.
func (c *client) data(raw string) (int, string) {
	c.t.Helper()
	c.ok("DATA", 354)
	c.send(raw)
	return c.reply()
}

var receivedRE = regexp.MustCompile(`^Received: from (\S+) \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(mailgrid\) with (\S+)(?: \(TLS[^)]*\))? id ([0-9A-F]{16})(\r\n\tfor <[^>]+>)?;\r\n\t` + regexp.QuoteMeta(fixedDate) + "\r\n")

// splitTrace checks a stored body: Return-Path, then our Received, then want. It returns
// the Received fields for more checks.
func splitTrace(t *testing.T, body []byte, from string, want string) (helo, proto, forRcpt string) {
	t.Helper()
	s := string(body)
	rp := "Return-Path: <" + from + ">\r\n"
	if !strings.HasPrefix(s, rp) {
		t.Fatalf("stored message does not start with %q:\n%s", rp, s)
	}
	s = s[len(rp):]
	m := receivedRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no well-formed Received header:\n%s", s)
	}
	if rest := s[len(m[0]):]; rest != want {
		t.Fatalf("message after trace headers differs:\ngot  %q\nwant %q", rest, want)
	}
	return m[1], m[2], strings.TrimSuffix(strings.TrimPrefix(m[4], "\r\n\tfor <"), ">")
}

func inbox(t *testing.T, w *world, a directory.Account, n int) []deliverytest.Stored {
	t.Helper()
	ms := w.Messages(t, a, store.Inbox)
	if len(ms) != n {
		t.Fatalf("%s has %d messages, want %d", a.Address, len(ms), n)
	}
	return ms
}

// need returns the path of an external tool; a missing tool skips the test, except under
// CI=true where it fails it.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (CI=true): %v", tool, err)
		}
		t.Skipf("%s not installed", tool)
	}
	return p
}

// run runs a command with a bounded time and returns its standard output.
func run(t *testing.T, dir string, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*deliverytest.Deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Logf("%s %v: %v\nstdout: %s\nstderr: %s", name, args, err, out, stderr.String())
	}
	return out, err
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
