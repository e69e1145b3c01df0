package pop3server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/linetest"
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
	sleeps   *linetest.SleepLog
}

func newWorld(t testing.TB) *world {
	t.Helper()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 0, 0)
	w := &world{Env: e, sleeps: &linetest.SleepLog{}}
	w.user = e.Account(t, userAddr, userPass, 0)
	w.certFile, w.tlsConf = linetest.SelfSigned(t, "pop.test")
	return w
}

// options are the server options tests start from.
func (w *world) options() pop3server.Options {
	return pop3server.Options{
		Hostname: "pop.test", TLSConfig: w.tlsConf, Directory: w.Dir, Shards: w.Shards,
		AuthFailDelay: 2 * time.Second, Sleep: w.sleeps.Sleep,
	}
}

// serve starts a server with opt on 127.0.0.1:0; it is shut down at the end of the test.
func (w *world) serve(t testing.TB, opt pop3server.Options) (*pop3server.Server, string) {
	t.Helper()
	srv, err := pop3server.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return srv, linetest.Serve(t, srv)
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
type client struct{ *linetest.Client }

func dial(t testing.TB, addr string) *client { return &client{linetest.Dial(t, addr)} }

// dialGreeted dials and checks the greeting.
func dialGreeted(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.ExpectPrefix("+OK")
	return c
}

// cmd sends line and returns the one-line reply.
func (c *client) cmd(line string) string {
	c.T.Helper()
	c.Send(line)
	return c.Line()
}

// multi reads the lines of a multi-line reply body up to the terminating ".", with
// byte-stuffing undone, each line followed by CRLF.
func (c *client) multi() []byte {
	c.T.Helper()
	var b bytes.Buffer
	for i := 0; i < 1_000_000; i++ {
		l := c.Line()
		if l == "." {
			return b.Bytes()
		}
		b.WriteString(strings.TrimPrefix(l, ".") + "\r\n")
	}
	c.T.Fatal("multi-line reply without end")
	return nil
}

// stls upgrades the connection after a +OK to STLS.
func (c *client) stls() {
	c.T.Helper()
	c.Send("STLS")
	c.ExpectPrefix("+OK")
	c.Handshake()
}

// login does STLS and USER/PASS.
func (c *client) login(user, pass string) {
	c.T.Helper()
	c.stls()
	c.Send("USER " + user)
	c.ExpectPrefix("+OK")
	c.Send("PASS " + pass)
	c.ExpectPrefix("+OK")
}

// staticShards gives the server a store wrapped by a test (e.g. one that blocks).
func staticShards(st store.Store) store.Shards {
	return delivery.StaticShards{directory.LocalShard: st}
}

// waitABit yields to the server between bounded retries (never asserted on).
func waitABit() { time.Sleep(5 * time.Millisecond) }
