package smtpclient_test

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/dns"
	"mailgrid/internal/queue"
	"mailgrid/internal/smtpclient"
	"mailgrid/internal/smtpclient/smtptest"
	"mailgrid/internal/testkit/dnsserver"
)

const ourHost = "mx.mailgrid.test"

type bytesBody struct{ *bytes.Reader }

func (b bytesBody) Size() int64 { return b.Reader.Size() }

func body(s string) bytesBody { return bytesBody{bytes.NewReader([]byte(s))} }

const msg = "From: a@sender.test\r\nTo: b@dest.test\r\nSubject: hello\r\n\r\nline one\r\n.leading dot\r\n"

// setup starts a DNS server and a client, resolving through it with the real resolver,
// whose remote port is the sink's.
func setup(t *testing.T, sink *smtptest.Sink, mod ...func(*smtpclient.Options)) (*dnsserver.Server, *smtpclient.Client) {
	t.Helper()
	d := dnsserver.Start(t)
	opt := smtpclient.Options{Hostname: ourHost, Port: sink.Port, Resolver: dns.New([]string{d.Addr()}, 5*time.Second)}
	for _, m := range mod {
		m(&opt)
	}
	c, err := smtpclient.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

func rcpts(addrs ...string) []queue.Recipient {
	out := make([]queue.Recipient, len(addrs))
	for i, a := range addrs {
		out[i] = queue.Recipient{Addr: a}
	}
	return out
}

func deliveryErr(t *testing.T, err error) *queue.DeliveryError {
	t.Helper()
	var de *queue.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *queue.DeliveryError", err, err)
	}
	return de
}

// TestDeliverSTARTTLS: a sink offering STARTTLS with a self-signed certificate gets the
// message encrypted (opportunistic TLS), with our EHLO name, intact data and DSN
// parameters relayed.
func TestDeliverSTARTTLS(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{TLS: true, DSN: true})
	d, c := setup(t, sink)
	d.SetMX("dest.test", "mx1.dest.test", 10)
	d.SetA("mx1.dest.test", "127.0.0.1")
	env := queue.Envelope{From: "a@sender.test", EnvID: "ENV42", Ret: "HDRS"}
	rs := []queue.Recipient{{Addr: "b@dest.test", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;orig@dest.test"}}
	res, err := c.Deliver(t.Context(), "dest.test", env, rs, body(msg))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !res[0].Delivered() || res[0].RemoteMTA != "mx1.dest.test" || !res[0].NextHopDSN {
		t.Fatalf("results = %+v", res)
	}
	got := sink.Delivered()
	if len(got) != 1 {
		t.Fatalf("sink got %d messages", len(got))
	}
	m := got[0]
	if !m.TLS {
		t.Error("message was not sent over TLS")
	}
	if m.Helo != ourHost || m.From != "a@sender.test" || strings.Join(m.Rcpts, ",") != "b@dest.test" {
		t.Errorf("helo %q from %q rcpts %v", m.Helo, m.From, m.Rcpts)
	}
	if string(m.Data) != msg {
		t.Errorf("data = %q, want %q", m.Data, msg)
	}
	if m.MailOpts.EnvelopeID != "ENV42" || m.MailOpts.Return != smtp.DSNReturnHeaders || m.MailOpts.Size != int64(len(msg)) {
		t.Errorf("MAIL parameters = %+v", m.MailOpts)
	}
	ro := m.RcptOpts[0]
	if len(ro.Notify) != 2 || ro.OriginalRecipient != "orig@dest.test" || ro.OriginalRecipientType != smtp.DSNAddressTypeRFC822 {
		t.Errorf("RCPT parameters = %+v", ro)
	}
}

// TestDeliverPlain: without STARTTLS on offer the session runs in plaintext; without the
// DSN extension the result says the next hop does not take DSN requests.
func TestDeliverPlain(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	d, c := setup(t, sink)
	d.SetMX("dest.test", "mx1.dest.test", 10)
	d.SetA("mx1.dest.test", "127.0.0.1")
	res, err := c.Deliver(t.Context(), "dest.test", queue.Envelope{From: ""}, rcpts("b@dest.test"), body(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Delivered() || res[0].NextHopDSN {
		t.Fatalf("results = %+v", res)
	}
	if got := sink.Delivered(); len(got) != 1 || got[0].TLS || got[0].From != "" || got[0].Helo != ourHost {
		t.Fatalf("sink got %+v", got)
	}
}

// TestTLSHandshakeFallback: when STARTTLS is offered but the handshake fails, the
// message goes in plaintext on a new connection (opportunistic TLS, RFC 7435).
func TestTLSHandshakeFallback(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{BrokenTLS: true})
	d, c := setup(t, sink)
	d.SetMX("dest.test", "mx1.dest.test", 10)
	d.SetA("mx1.dest.test", "127.0.0.1")
	res, err := c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rcpts("b@dest.test"), body(msg))
	if err != nil || !res[0].Delivered() {
		t.Fatalf("results %+v, err %v", res, err)
	}
	if got := sink.Delivered(); len(got) != 1 || got[0].TLS {
		t.Fatalf("sink got %+v, want one plaintext message", got)
	}
}

// TestPerRecipientResults: every RCPT has its own result; the DATA reply applies to all
// accepted recipients, and a DATA failure to all of them.
func TestPerRecipientResults(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	d, c := setup(t, sink)
	d.SetMX("dest.test", "mx1.dest.test", 10)
	d.SetA("mx1.dest.test", "127.0.0.1")
	sink.OnRcpt(func(_, to string) error {
		switch {
		case strings.HasPrefix(to, "unknown"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(to, "busy"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}
		}
		return nil
	})
	rs := rcpts("ok1@dest.test", "unknown@dest.test", "busy@dest.test", "ok2@dest.test")
	res, err := c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rs, body(msg))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		code     int
		enhanced string
		temp     bool
	}{{250, "", false}, {550, "5.1.1", false}, {451, "4.2.1", true}, {250, "", false}}
	for i, w := range want {
		r := res[i]
		if r.Reply.Code != w.code || (w.enhanced != "" && r.Reply.Enhanced != w.enhanced) || (r.Reply.Code != 250 && r.Temporary != w.temp) {
			t.Errorf("%s: %+v, want %d %s temp=%v", rs[i].Addr, r, w.code, w.enhanced, w.temp)
		}
	}
	if got := sink.Delivered(); len(got) != 1 || strings.Join(got[0].Rcpts, ",") != "ok1@dest.test,ok2@dest.test" {
		t.Fatalf("sink got %+v", got)
	}

	sink.OnRcpt(nil)
	sink.OnData(func(*smtptest.Message) error {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}
	})
	res, err = c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rcpts("x@dest.test", "y@dest.test"), body(msg))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Reply.Code != 554 || r.Reply.Enhanced != "5.6.0" || r.Temporary || r.Reply.Text != "content rejected" {
			t.Errorf("after DATA failure: %+v", r)
		}
	}
}

// TestMXFallback: MX hosts are tried in preference order; an unreachable first host
// moves on to the next.
func TestMXFallback(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	d, c := setup(t, sink)
	d.SetMX("dest.test", "backup.dest.test", 20)
	d.SetMX("dest.test", "primary.dest.test", 10)
	d.SetA("primary.dest.test", "127.0.0.3") // nothing listens there
	d.SetA("backup.dest.test", "127.0.0.1")
	res, err := c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rcpts("b@dest.test"), body(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Delivered() || res[0].RemoteMTA != "backup.dest.test" {
		t.Fatalf("results = %+v", res)
	}

	// Only unreachable hosts: a temporary failure.
	d.SetMX("down.test", "primary.dest.test", 10)
	_, err = c.Deliver(t.Context(), "down.test", queue.Envelope{From: "a@sender.test"}, rcpts("b@down.test"), body(msg))
	if de := deliveryErr(t, err); !de.Temporary || !strings.HasPrefix(de.Reply.Enhanced, "4.4.") {
		t.Fatalf("unreachable: %+v", de)
	}
}

// TestRouting covers the DNS cases that never reach a server.
func TestRouting(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{})
	d, c := setup(t, sink)
	d.SetMX("nullmx.test", ".", 0)
	d.SetA("implicit.test", "127.0.0.1") // no MX, the domain's A is loopback
	d.SetMX("loop.test", ourHost, 10)
	d.SetMX("loop2.test", "other.loop2.test", 20)
	d.SetMX("loop2.test", strings.ToUpper(ourHost)+".", 10)
	d.SetA("other.loop2.test", "127.0.0.1")
	d.SetServFail("servfail.test")
	d.SetMX("nohost.test", "gone.nohost.test", 10)
	cases := []struct {
		domain   string
		temp     bool
		enhanced string
	}{
		{"nullmx.test", false, "5.1.10"},  // RFC 7505
		{"implicit.test", false, "5.4.4"}, // implicit MX never leads to loopback
		{"nxdomain.test", false, "5.4.4"}, // no such domain
		{"loop.test", false, "5.4.6"},     // we are the best MX
		{"loop2.test", false, "5.4.6"},    // we are more preferred than the other MX
		{"servfail.test", true, "4.4.3"},  // DNS trouble is temporary
		{"nohost.test", false, "5.4.4"},   // the MX host does not exist
	}
	for _, tc := range cases {
		_, err := c.Deliver(t.Context(), tc.domain, queue.Envelope{From: "a@sender.test"}, rcpts("b@"+tc.domain), body(msg))
		de := deliveryErr(t, err)
		if de.Temporary != tc.temp || de.Reply.Enhanced != tc.enhanced {
			t.Errorf("%s: %+v, want temporary=%v %s", tc.domain, de, tc.temp, tc.enhanced)
		}
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("sink got %d transactions", n)
	}
}

// TestExtensions: SMTPUTF8 and SIZE are checked before MAIL FROM.
func TestExtensions(t *testing.T) {
	sink := smtptest.Start(t, smtptest.Options{MaxMessageBytes: 1 << 10})
	d, c := setup(t, sink)
	d.SetMX("dest.test", "mx1.dest.test", 10)
	d.SetA("mx1.dest.test", "127.0.0.1")
	_, err := c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test", SMTPUTF8: true}, rcpts("b@dest.test"), body(msg))
	if de := deliveryErr(t, err); de.Temporary || de.Reply.Enhanced != "5.6.7" {
		t.Errorf("SMTPUTF8 message to a server without it: %+v, want permanent 5.6.7", de)
	}
	_, err = c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rcpts("ü@dest.test"), body(msg))
	if de := deliveryErr(t, err); de.Reply.Enhanced != "5.6.7" {
		t.Errorf("UTF-8 recipient to a server without SMTPUTF8: %+v", de)
	}
	big := msg + strings.Repeat("x", 2<<10) + "\r\n"
	_, err = c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rcpts("b@dest.test"), body(big))
	if de := deliveryErr(t, err); de.Temporary || de.Reply.Enhanced != "5.3.4" {
		t.Errorf("message over SIZE: %+v, want permanent 5.3.4", de)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("sink got %d transactions", n)
	}

	utf8Sink := smtptest.Start(t, smtptest.Options{SMTPUTF8: true})
	d2, c2 := setup(t, utf8Sink)
	d2.SetMX("dest.test", "mx1.dest.test", 10)
	d2.SetA("mx1.dest.test", "127.0.0.1")
	res, err := c2.Deliver(t.Context(), "dest.test", queue.Envelope{From: "ä@sender.test"}, rcpts("ü@dest.test"), body(msg))
	if err != nil || !res[0].Delivered() {
		t.Fatalf("SMTPUTF8 delivery: %+v, %v", res, err)
	}
	if m := utf8Sink.Delivered(); len(m) != 1 || !m[0].MailOpts.UTF8 {
		t.Errorf("MAIL without SMTPUTF8: %+v", m)
	}
}

// TestGreetingTimeout: a server that accepts but never greets costs a temporary failure
// after GreetingTimeout (RFC 5321 4.5.3.2.1).
func TestGreetingTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := l.Accept()
		if err == nil {
			accepted <- conn
		}
		close(accepted)
	}()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		for conn := range accepted {
			if err := conn.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	port := l.Addr().(*net.TCPAddr).Port
	sink := &smtptest.Sink{Port: port}
	d, c := setup(t, sink, func(o *smtpclient.Options) { o.GreetingTimeout = 100 * time.Millisecond })
	d.SetMX("dest.test", "mx1.dest.test", 10)
	d.SetA("mx1.dest.test", "127.0.0.1")
	_, err = c.Deliver(t.Context(), "dest.test", queue.Envelope{From: "a@sender.test"}, rcpts("b@dest.test"), body(msg))
	if de := deliveryErr(t, err); !de.Temporary || de.Reply.Code != 0 {
		t.Fatalf("silent server: %+v", de)
	}
}
