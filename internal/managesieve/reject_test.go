package managesieve_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/managesieve"
	"mailgrid/internal/store"
)

// The one reply and the one delay for every credential failure: a wrong password, an
// unknown user, a foreign authorisation identity and a malformed PLAIN message cannot
// be told apart by the reply or by the delay the server asks for.
func TestLoginFailureIndistinguishable(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, nil)
	cases := map[string]string{
		"wrong password": plain(userAddr, "wrong"),
		"unknown user":   plain("nobody@local.test", userPass),
		"unknown domain": plain("user@elsewhere.test", userPass),
		"foreign authz":  "b3RoZXJAbG9jYWwudGVzdAB1c2VyQGxvY2FsLnRlc3QAdXNlci1wYXNzd29yZA==",
		"malformed":      "Z2FyYmFnZQ==",
	}
	for name, resp := range cases {
		c := dialGreeted(t, addr)
		c.starttls()
		if got := c.cmd(`AUTHENTICATE "PLAIN" "` + resp + `"`); got != `NO "Authentication failed"` {
			t.Errorf("%s: reply %q", name, got)
		}
		if d := w.sleeps.Take(); !slices.Equal(d, []time.Duration{2 * time.Second}) {
			t.Errorf("%s: delays %v, want one of 2s", name, d)
		}
		c.cmd("LOGOUT")
	}
	// The right password: no delay.
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	if d := w.sleeps.Take(); len(d) != 0 {
		t.Errorf("successful login waited %v", d)
	}
}

// A negative FailedLoginDelay waits nothing; the default is 2 seconds.
func TestFailedLoginDelayOption(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct {
		opt  time.Duration
		want []time.Duration
	}{{-1, nil}, {0, []time.Duration{2 * time.Second}}, {5 * time.Second, []time.Duration{5 * time.Second}}} {
		addr := w.start(t, func(o *managesieve.Options) { o.FailedLoginDelay = c.opt })
		cl := dialGreeted(t, addr)
		cl.starttls()
		cl.cmd(`AUTHENTICATE "PLAIN" "` + plain(userAddr, "wrong") + `"`)
		if d := w.sleeps.Take(); !slices.Equal(d, c.want) {
			t.Errorf("FailedLoginDelay %v: delays %v, want %v", c.opt, d, c.want)
		}
	}
}

// Commands pipelined after STARTTLS in plaintext are discarded, never run (the
// CVE-2011-0411 class): an injected login and PUTSCRIPT have no effect.
func TestSTARTTLSInjection(t *testing.T) {
	w := newWorld(t)
	c := dialGreeted(t, w.start(t, nil))
	c.Send("STARTTLS\r\n" + authPlain(userAddr, userPass) + "\r\nPUTSCRIPT \"evil\" " + literal("discard;") + "\r\nSETACTIVE \"evil\"")
	c.Expect(`OK "Begin TLS negotiation now"`)
	c.Handshake()
	c.untilOK() // the capabilities again
	if got := c.cmd("LISTSCRIPTS"); got != `NO "Authenticate first"` {
		t.Fatalf("LISTSCRIPTS after the injected login = %q: injected commands ran", got)
	}
	if got := c.cmd(authPlain(userAddr, userPass)); got != `OK "Logged in"` {
		t.Fatal(got)
	}
	if got := c.cmd("LISTSCRIPTS"); got != `OK "Listscripts completed"` {
		t.Fatalf("LISTSCRIPTS = %q: an injected script was stored", got)
	}
	scripts, err := w.Filter.Scripts(t.Context(), deliverytest.Ref(w.user))
	if err != nil || len(scripts) != 0 {
		t.Fatalf("scripts %v, %v", scripts, err)
	}
}

// Before TLS no credential is looked at: AUTHENTICATE answers ENCRYPT-NEEDED without
// a failed-login delay, whatever it carries.
func TestAuthBeforeTLS(t *testing.T) {
	w := newWorld(t)
	c := dialGreeted(t, w.start(t, nil))
	for _, resp := range []string{plain(userAddr, userPass), plain(userAddr, "wrong")} {
		if got := c.cmd(`AUTHENTICATE "PLAIN" "` + resp + `"`); !strings.HasPrefix(got, "NO (ENCRYPT-NEEDED)") {
			t.Fatalf("AUTHENTICATE before TLS = %q", got)
		}
	}
	if d := w.sleeps.Take(); len(d) != 0 {
		t.Fatalf("delays %v before TLS", d)
	}
	// A continuation is not even offered.
	if got := c.cmd(`AUTHENTICATE "PLAIN"`); !strings.HasPrefix(got, "NO (ENCRYPT-NEEDED)") {
		t.Fatalf("AUTHENTICATE without response before TLS = %q", got)
	}
}

// A command line over 8 KiB (outside literals) ends the session with BYE.
func TestOverlongLine(t *testing.T) {
	w := newWorld(t)
	c := dialGreeted(t, w.start(t, nil))
	c.Send(`NOOP "` + strings.Repeat("x", 9000) + `"`)
	c.Expect(`BYE "Line too long"`)
	c.Closed()
	c = dialGreeted(t, w.start(t, nil))
	c.Send(strings.Repeat("A", 40))
	c.Expect(`NO "Command name too long"`)
}

// Literals over the command's budget: read and thrown away with NO (QUOTA/MAXSIZE for a
// script, plain NO for a name or a SASL response) while the session can stay in step,
// BYE beyond that; nothing is stored either way.
func TestHugeLiterals(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, func(o *managesieve.Options) { o.MaxScriptSize = 1000 })
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)

	// Over the budget (1000 + 8 KiB) but under 16 times it: skipped, session goes on.
	big := strings.Repeat("# comment line\r\n", 1000) // 16000 octets
	c.Send(`PUTSCRIPT "big" ` + literal(big))
	if got := c.Line(); !strings.HasPrefix(got, `NO (QUOTA/MAXSIZE) "Literal of 16000 octets`) {
		t.Fatalf("oversized literal: %q", got)
	}
	// A script that fits the literal budget but not MaxScriptSize: refused as a script.
	c.Send(`CHECKSCRIPT ` + literal(strings.Repeat("#", 1001)))
	c.Expect(`NO (QUOTA/MAXSIZE) "Script of 1001 octets is over the limit of 1000"`)
	// The budget of other commands is small: a name or a SASL response of 9000 octets.
	c.Send(`GETSCRIPT ` + literal(strings.Repeat("n", 9000)))
	if got := c.Line(); got != `NO "Literal of 9000 octets is over the limit"` {
		t.Fatalf("oversized name literal: %q", got)
	}
	if got := c.cmd("LISTSCRIPTS"); got != `OK "Listscripts completed"` {
		t.Fatalf("after skipped literals: %q", got)
	}

	// Far over the budget: the session ends at once, the octets are not waited for.
	c.Send(`PUTSCRIPT "huge" {4000000000+}`)
	c.Expect(`BYE (QUOTA/MAXSIZE) "Literal too large"`)
	c.Closed()
	if s, err := w.Filter.Scripts(t.Context(), deliverytest.Ref(w.user)); err != nil || len(s) != 0 {
		t.Fatalf("scripts stored: %v %v", s, err)
	}

	// Before login too (a literal in a continuation, a huge one in a command).
	c = dialGreeted(t, addr)
	c.starttls()
	c.Send(`AUTHENTICATE "PLAIN"`)
	c.Expect(`""`)
	c.Send(literal(strings.Repeat("A", 9000)))
	if got := c.Line(); got != `NO "Literal of 9000 octets is over the limit"` {
		t.Fatalf("oversized SASL response: %q", got)
	}
	c.Send(`NOOP {999999999+}`)
	c.Expect(`BYE (QUOTA/MAXSIZE) "Literal too large"`)
	c.Closed()
}

// RFC 5804 1.3: an idle session is logged out with BYE.
func TestIdleTimeout(t *testing.T) {
	w := newWorld(t)
	c := dialGreeted(t, w.start(t, func(o *managesieve.Options) { o.IdleTimeout = 100 * time.Millisecond }))
	c.Expect(`BYE "Disconnected for inactivity"`)
	c.Closed()
}

// MaxConnsPerIP: the next connection from the address gets BYE (TRYLATER); a slot
// frees when a connection ends.
func TestPerIPLimit(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, func(o *managesieve.Options) { o.MaxConnsPerIP = 2 })
	a, b := dialGreeted(t, addr), dialGreeted(t, addr)
	c := dial(t, addr)
	c.Expect(`BYE (TRYLATER) "Too many connections from your address"`)
	c.Closed()
	a.cmd("LOGOUT")
	b.cmd("NOOP")
	for i := 0; ; i++ { // the server notices the LOGOUT asynchronously
		c := dial(t, addr)
		if l := c.Line(); !strings.HasPrefix(l, "BYE") {
			break
		} else if i == 200 {
			t.Fatal("slot not freed after LOGOUT")
		}
		waitABit()
	}
}

// Shutdown says BYE (TRYLATER) to a waiting session and Serve returns nil.
func TestShutdown(t *testing.T) {
	w := newWorld(t)
	srv, addr := w.serve(t, w.options())
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	idle := dialGreeted(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), deliverytest.Deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{c, idle} {
		cl.Expect(`BYE (TRYLATER) "Server shutting down"`)
		cl.Closed()
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

// faultyScripts is the real script store with one method failing, as a broken
// database would.
type faultyScripts struct {
	filter.SieveScripts
}

var errBroken = errors.New("database is on fire")

func (faultyScripts) Scripts(context.Context, store.AccountRef) ([]filter.ScriptInfo, error) {
	return nil, errBroken
}

// faultyDirectory is the real directory whose Domain lookups fail.
type faultyDirectory struct {
	directory.Directory
}

func (faultyDirectory) Domain(context.Context, string) (directory.Domain, error) {
	return directory.Domain{}, errBroken
}

// Infrastructure faults answer NO (TRYLATER) and the session goes on.
func TestFaultsAreTryLater(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, func(o *managesieve.Options) { o.Scripts = faultyScripts{w.Filter} })
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	want := `NO (TRYLATER) "Temporary server failure, try again later"`
	for _, cmd := range []string{"LISTSCRIPTS", `PUTSCRIPT "a" "keep;"`, `HAVESPACE "a" 10`} {
		if got := c.cmd(cmd); got != want {
			t.Errorf("%s = %q", cmd, got)
		}
	}
	if got := c.cmd(`GETSCRIPT "a"`); got != `NO (NONEXISTENT) "There is no script by that name"` {
		t.Errorf("GETSCRIPT = %q", got)
	}

	addr = w.start(t, func(o *managesieve.Options) { o.Directory = faultyDirectory{w.Dir} })
	c = dialGreeted(t, addr)
	c.starttls()
	if got := c.cmd(authPlain(userAddr, userPass)); got != want {
		t.Fatalf("login with a broken directory = %q", got)
	}
}

func TestNewValidates(t *testing.T) {
	w := newWorld(t)
	for name, tweak := range map[string]func(*managesieve.Options){
		"no TLS":       func(o *managesieve.Options) { o.TLSConfig = nil },
		"no directory": func(o *managesieve.Options) { o.Directory = nil },
		"no scripts":   func(o *managesieve.Options) { o.Scripts = nil },
	} {
		opt := w.options()
		tweak(&opt)
		if _, err := managesieve.New(opt); err == nil {
			t.Errorf("%s: New accepted the options", name)
		}
	}
}

// Bytes after LOGOUT are not run; a client closing mid-command is not an error.
func TestClientGoesAway(t *testing.T) {
	w := newWorld(t)
	addr := w.start(t, nil)
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	c.Send(`PUTSCRIPT "half" {100+}` + "\r\nkeep;")
	if err := c.Conn.Close(); err != nil {
		t.Fatal(err)
	}
	c = dialGreeted(t, addr)
	c.login(userAddr, userPass)
	c.Send("LISTSCRIPTS\r\nLOGOUT\r\nDELETESCRIPT \"x\"")
	c.Expect(`OK "Listscripts completed"`) // no script listed: the half-sent one was not stored
	c.Expect(`OK "Logout completed"`)
	c.Closed()
}
