package imapserver_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/mail"
)

const imapDisabled = "NO [CONTACTADMIN] IMAP access is disabled for this account"

func plainIR(user, pass string) string {
	return "AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

// TestServiceSwitchAccount: an account with IMAP switched off is refused after the right
// password (LOGIN and AUTHENTICATE), with [CONTACTADMIN]; a wrong password still gets the
// usual [AUTHENTICATIONFAILED], so the switch reveals nothing without the password. The
// refusals are not failed logins (MaxLoginFailures 1 would otherwise end the connection);
// another account logs in on the same connection; the switch binds the next login, not a
// session already logged in; switching back on lets the account in again.
func TestServiceSwitchAccount(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.account(t, "other@local.test", "other-password", 0)
	_, addr := w.server(t, func(o *imapserver.Options) { o.MaxLoginFailures = 1 })
	before := login(t, addr)
	before.ok("SELECT INBOX")

	setAccountServices(t, w, "user@local.test", directory.ServiceIMAP)
	c := dial(t, addr)
	c.startTLS()
	for _, cmd := range []string{"LOGIN user@local.test user-password", plainIR("user@local.test", "user-password")} {
		if _, st := c.cmd(cmd); st != imapDisabled {
			t.Fatalf("%s with IMAP disabled: %q", strings.Fields(cmd)[0], st)
		}
	}
	c.ok("LOGIN other@local.test other-password")
	c.ok("SELECT INBOX")
	before.ok("NOOP") // already logged in: not cut off

	wrong := dial(t, addr)
	wrong.startTLS()
	if _, st := wrong.cmd("LOGIN user@local.test not-the-password"); !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("wrong password with IMAP disabled: %q", st)
	}

	// Switching POP3 off as well as IMAP, then IMAP back on: only IMAP matters here.
	setAccountServices(t, w, "user@local.test", directory.ServicePOP3)
	login(t, addr).ok("SELECT INBOX")
	if _, err := w.dir.UpdateAccount(ctx, mail.MustParse("user@local.test"), directory.AccountUpdate{DisabledServices: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	login(t, addr).ok("LOGOUT")
}

// TestServiceSwitchDomain: IMAP switched off for the domain refuses every account of it,
// whatever the account's own switches, and nothing of another domain; switched back on,
// logins succeed again.
func TestServiceSwitchDomain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if err := w.dir.CreateDomain(ctx, directory.Domain{Name: "other.test", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	w.account(t, "x@other.test", "x-password", 0)
	_, addr := w.server(t, nil)
	setDomainServices(t, w, "local.test", directory.ServiceIMAP, directory.ServiceWebmail)
	c := dial(t, addr)
	c.startTLS()
	if _, st := c.cmd(plainIR("user@local.test", "user-password")); st != imapDisabled {
		t.Fatalf("AUTHENTICATE with IMAP disabled for the domain: %q", st)
	}
	if _, st := c.cmd("LOGIN user@local.test user-password"); st != imapDisabled {
		t.Fatalf("LOGIN with IMAP disabled for the domain: %q", st)
	}
	c.ok("LOGIN x@other.test x-password")

	setDomainServices(t, w, "local.test", directory.ServiceWebmail)
	login(t, addr).ok("SELECT INBOX")
}

// TestServiceSwitchDirectoryFault: when the account's domain cannot be read after a
// successful authentication, the login is refused as a temporary failure.
func TestServiceSwitchDirectoryFault(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, func(o *imapserver.Options) {
		o.Directory = domainFault{Directory: w.dir}
	})
	c := dial(t, addr)
	c.startTLS()
	if _, st := c.cmd("LOGIN user@local.test user-password"); !strings.HasPrefix(st, "NO [UNAVAILABLE]") {
		t.Fatalf("LOGIN with the directory failing: %q", st)
	}
	c.ok("NOOP")
}

// domainFault is the real directory whose Domain lookups fail (a database gone away).
type domainFault struct{ directory.Directory }

func (domainFault) Domain(context.Context, string) (directory.Domain, error) {
	return directory.Domain{}, errors.New("directory database unreachable")
}

func setAccountServices(t *testing.T, w *world, addr string, off ...string) {
	t.Helper()
	if _, err := w.dir.UpdateAccount(context.Background(), mail.MustParse(addr), directory.AccountUpdate{DisabledServices: &off}); err != nil {
		t.Fatal(err)
	}
}

func setDomainServices(t *testing.T, w *world, name string, off ...string) {
	t.Helper()
	ctx := context.Background()
	d, err := w.dir.Domain(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	d.DisabledServices = off
	if err := w.dir.UpdateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
}
