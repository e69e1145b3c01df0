package imapserver_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/mail"
	"mailgrid/internal/netserve"
	"mailgrid/internal/testkit/linetest"
)

// TestFailedLoginDelay: every failed login waits FailedLoginDelay doubled per failure of
// the connection and capped at 8 times (d, 2d, 4d, 8d, 8d, ...), the same for an unknown
// user, a wrong password and AUTHENTICATE; the MaxLoginFailures-th failure ends the
// connection. The delays are observed through the injected Sleep, never by wall time.
// The count is per connection: a new one starts again at d, and a login with the right
// password waits nothing, nor does a refusal by the IMAP service switch (doc.go).
func TestFailedLoginDelay(t *testing.T) {
	const d = 3 * time.Second
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("off@local.test"),
		Password: "off-password", DisabledServices: []string{directory.ServiceIMAP}}); err != nil {
		t.Fatal(err)
	}
	sleeps := &linetest.SleepLog{}
	_, addr := w.server(t, func(o *imapserver.Options) {
		o.FailedLoginDelay, o.MaxLoginFailures, o.Sleep = d, 7, sleeps.Sleep
	})
	plain := func(user, pass string) string {
		return "AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
	}
	attempts := []string{
		"LOGIN user@local.test wrong-password",
		"LOGIN nobody@local.test user-password",
		plain("user@local.test", "wrong-password"),
		"LOGIN user@nowhere.test user-password",
		plain("nobody@local.test", "x"),
		"LOGIN user@local.test USER-PASSWORD",
	}
	want := []time.Duration{d, 2 * d, 4 * d, 8 * d, 8 * d, 8 * d}
	c := dial(t, addr)
	c.startTLS()
	for i, a := range attempts {
		if _, st := c.cmd(a); st != "NO [AUTHENTICATIONFAILED] Authentication failed" {
			t.Fatalf("failure %d (%s): %q", i+1, a, st)
		}
		if got := sleeps.Take(); !slices.Equal(got, want[i:i+1]) {
			t.Errorf("failure %d (%s): delays %v, want %v", i+1, a, got, want[i])
		}
	}
	// The 7th failure still waits 8d, then the connection ends (RFC 9051 7.1.5).
	if _, st := c.cmd("LOGIN user@local.test wrong-again"); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("last failure: %q", st)
	}
	c.expectPrefix("* BYE")
	if got := sleeps.Take(); !slices.Equal(got, []time.Duration{8 * d}) {
		t.Errorf("last failure: delays %v, want [%v]", got, 8*d)
	}

	c = dial(t, addr)
	c.startTLS()
	if _, st := c.cmd("LOGIN user@local.test wrong-password"); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("first failure of a new connection: %q", st)
	}
	if got := sleeps.Take(); !slices.Equal(got, []time.Duration{d}) {
		t.Errorf("a new connection's first failure: delays %v, want [%v]", got, d)
	}
	if _, st := c.cmd("LOGIN off@local.test off-password"); st != imapDisabled {
		t.Fatalf("IMAP disabled: %q", st)
	}
	c.ok("LOGIN user@local.test user-password")
	if got := sleeps.Take(); len(got) != 0 {
		t.Errorf("the service switch and a good login waited %v", got)
	}
}

// TestFailedLoginDelayEndsOnShutdown: Shutdown ends a failed-login delay at once (the
// Sleep's context), so a session waiting out an hour's delay still gets its NO and the
// BYE (RFC 9051 7.1.5) and Shutdown completes without its context running out.
func TestFailedLoginDelayEndsOnShutdown(t *testing.T) {
	w := newWorld(t)
	waiting := make(chan struct{}, 1)
	srv, addr := w.server(t, func(o *imapserver.Options) {
		o.FailedLoginDelay = time.Hour
		o.Sleep = func(ctx context.Context, d time.Duration) {
			waiting <- struct{}{}
			netserve.Sleep(ctx, d)
		}
	})
	c := dial(t, addr)
	c.startTLS()
	c.send("s1 LOGIN user@local.test wrong-password\r\n")
	<-waiting
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown during a failed-login delay: %v", err)
	}
	c.expectPrefix("s1 NO [AUTHENTICATIONFAILED]")
	c.expectPrefix("* BYE")
}
