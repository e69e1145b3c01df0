// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on loopback as
// the remote end of outbound delivery tests: it records every transaction (envelope,
// parameters, data, whether TLS and which EHLO name were used), counts concurrent
// transactions, and lets a test decide each RCPT and DATA reply.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Options configures a Sink.
type Options struct {
	Addr string // listen address, default "127.0.0.1:0"
	TLS  bool   // offer STARTTLS with a self-signed certificate
	// Certificate, when set, is the STARTTLS certificate instead (implies TLS).
	Certificate     *tls.Certificate
	BrokenTLS       bool // offer STARTTLS but fail every handshake
	SMTPUTF8        bool
	DSN             bool
	MaxMessageBytes int64 // SIZE; 0 = unlimited
}

// Message is one completed (or attempted) transaction.
type Message struct {
	Helo     string
	TLS      bool
	From     string
	MailOpts smtp.MailOptions
	Rcpts    []string
	RcptOpts []smtp.RcptOptions
	Data     []byte
	Err      error // what Data returned
}

// RcptFunc decides a RCPT: nil accepts. DataFunc decides the DATA reply: nil accepts.
type (
	RcptFunc func(from, to string) error
	DataFunc func(m *Message) error
)

// Sink is a recording SMTP server.
type Sink struct {
	Port int
	Addr string

	srv *smtp.Server

	mu        sync.Mutex
	msgs      []Message
	active    int
	maxActive int
	rcptFn    RcptFunc
	dataFn    DataFunc
}

// Start starts a sink and stops it when the test ends.
func Start(t *testing.T, opt Options) *Sink {
	t.Helper()
	s := &Sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.EnableSMTPUTF8 = opt.SMTPUTF8
	srv.EnableDSN = opt.DSN
	srv.MaxMessageBytes = opt.MaxMessageBytes
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.ErrorLog = discardLogger{}
	if opt.TLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{SelfSigned(t, "sink.test")}}
	}
	if opt.Certificate != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*opt.Certificate}}
	}
	if opt.BrokenTLS {
		srv.TLSConfig = &tls.Config{} // no certificate: the handshake fails
	}
	addr := opt.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.srv, s.Addr = srv, l.Addr().String()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.Port, _ = strconv.Atoi(port)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("sink close: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("sink serve: %v", err)
		}
	})
	return s
}

// OnRcpt sets the RCPT decision function.
func (s *Sink) OnRcpt(f RcptFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptFn = f
}

// OnData sets the DATA decision function. It runs outside the sink's lock and may block.
func (s *Sink) OnData(f DataFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataFn = f
}

// Messages returns the transactions that reached DATA so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Delivered returns the transactions whose DATA was accepted.
func (s *Sink) Delivered() []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Err == nil {
			out = append(out, m)
		}
	}
	return out
}

// Active is the number of transactions in progress (MAIL to end of DATA).
func (s *Sink) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// MaxConcurrent is the largest number of transactions (MAIL to end of DATA) seen at once.
func (s *Sink) MaxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxActive
}

type session struct {
	s     *Sink
	c     *smtp.Conn
	m     *Message
	inTxn bool
}

func (ss *session) Reset() { ss.end(); ss.m = nil }

func (ss *session) Logout() error { ss.end(); return nil }

func (ss *session) end() {
	if !ss.inTxn {
		return
	}
	ss.inTxn = false
	ss.s.mu.Lock()
	ss.s.active--
	ss.s.mu.Unlock()
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	_, isTLS := ss.c.TLSConnectionState()
	ss.m = &Message{Helo: ss.c.Hostname(), TLS: isTLS, From: from}
	if opts != nil {
		ss.m.MailOpts = *opts
	}
	ss.inTxn = true
	ss.s.mu.Lock()
	ss.s.active++
	ss.s.maxActive = max(ss.s.maxActive, ss.s.active)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	f := ss.s.rcptFn
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(ss.m.From, to); err != nil {
			return err
		}
	}
	ss.m.Rcpts = append(ss.m.Rcpts, to)
	var o smtp.RcptOptions
	if opts != nil {
		o = *opts
	}
	ss.m.RcptOpts = append(ss.m.RcptOpts, o)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	_, err := io.Copy(&buf, r)
	ss.m.Data = buf.Bytes()
	ss.s.mu.Lock()
	f := ss.s.dataFn
	ss.s.mu.Unlock()
	if err == nil && f != nil {
		err = f(ss.m)
	}
	ss.m.Err = err
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, *ss.m)
	ss.s.mu.Unlock()
	ss.end() // before the reply is written: the client cannot start another first
	return err
}

// SelfSigned returns a self-signed certificate for name (and 127.0.0.1), valid for a day.
func SelfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
