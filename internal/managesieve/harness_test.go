package managesieve_test

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/managesieve"
	"mailgrid/internal/testkit/linetest"
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
	sleeps   *linetest.SleepLog
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
	w := &world{Env: e, sleeps: &linetest.SleepLog{}}
	w.user = e.Account(t, userAddr, userPass, 0)
	w.certFile, w.tlsConf = linetest.SelfSigned(t, "sieve.test")
	return w
}

// options are the server options tests start from.
func (w *world) options() managesieve.Options {
	return managesieve.Options{
		Hostname: "sieve.test", TLSConfig: w.tlsConf, Directory: w.Dir, Scripts: w.Filter,
		FailedLoginDelay: 2 * time.Second, Sleep: w.sleeps.Sleep,
	}
}

// serve starts a server with opt on 127.0.0.1:0; it is shut down at the end of the test.
func (w *world) serve(t testing.TB, opt managesieve.Options) (*managesieve.Server, string) {
	t.Helper()
	srv, err := managesieve.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return srv, linetest.Serve(t, srv)
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
type client struct{ *linetest.Client }

func dial(t testing.TB, addr string) *client { return &client{linetest.Dial(t, addr)} }

// dialGreeted dials and reads the capabilities and the OK of the greeting.
func dialGreeted(t testing.TB, addr string) *client {
	t.Helper()
	c := dial(t, addr)
	c.untilOK()
	return c
}

// untilOK reads lines up to an OK, NO or BYE line and returns the lines before it and
// the final one.
func (c *client) untilOK() ([]string, string) {
	c.T.Helper()
	var lines []string
	for range 10_000 {
		l := c.Line()
		if final(l) {
			if !strings.HasPrefix(l, "OK") {
				c.T.Fatalf("reply %q after %q", l, lines)
			}
			return lines, l
		}
		lines = append(lines, l)
	}
	c.T.Fatal("no final response")
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
	c.T.Helper()
	c.Send(s)
	for range 10_000 {
		if l := c.Line(); final(l) {
			return l
		}
	}
	c.T.Fatal("no final response")
	return ""
}

// starttls upgrades the connection and reads the capabilities sent again.
func (c *client) starttls() []string {
	c.T.Helper()
	c.Send("STARTTLS")
	c.Expect(`OK "Begin TLS negotiation now"`)
	c.Handshake()
	caps, _ := c.untilOK()
	return caps
}

// login does STARTTLS and AUTHENTICATE "PLAIN" with an initial response.
func (c *client) login(user, pass string) {
	c.T.Helper()
	c.starttls()
	if got := c.cmd(authPlain(user, pass)); got != `OK "Logged in"` {
		c.T.Fatalf("login: %q", got)
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

// waitABit yields to the server between bounded retries (never asserted on).
func waitABit() { time.Sleep(5 * time.Millisecond) }
