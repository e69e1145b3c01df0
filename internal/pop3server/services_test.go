package pop3server_test

import (
	"encoding/base64"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

const pop3Off = "-ERR [SYS/PERM] POP3 access is disabled for this account"

// setAccountServices replaces an account's disabled services in the directory.
func (w *world) setAccountServices(t *testing.T, addr string, off ...string) {
	t.Helper()
	if _, err := w.Dir.UpdateAccount(t.Context(), mail.MustParse(addr), directory.AccountUpdate{DisabledServices: &off}); err != nil {
		t.Fatal(err)
	}
}

// setDomainServices replaces a domain's disabled services in the directory.
func (w *world) setDomainServices(t *testing.T, name string, off ...string) {
	t.Helper()
	dom, err := w.Dir.Domain(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	dom.DisabledServices = off
	if err := w.Dir.UpdateDomain(t.Context(), dom); err != nil {
		t.Fatal(err)
	}
}

func plainIR(user, pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

// An account whose POP3 switch is off is refused after the right password, by USER/PASS
// and AUTH PLAIN alike; a wrong password still looks like any failure. Other accounts of
// the domain are unaffected, and switching POP3 back on binds the next login at once,
// without a restart and in the same session (the refusal took no maildrop lock).
func TestServiceSwitchAccount(t *testing.T) {
	w := newWorld(t)
	w.Account(t, "second@local.test", "second-password", 0)
	w.setAccountServices(t, userAddr, directory.ServicePOP3, directory.ServiceIMAP)
	addr := w.start(t, nil)

	c := dialGreeted(t, addr)
	c.stls()
	c.cmd("USER " + userAddr)
	if got := c.cmd("PASS wrong"); got != "-ERR [AUTH] Authentication failed" {
		t.Fatalf("wrong password, POP3 off = %q", got)
	}
	c.cmd("USER " + userAddr)
	if got := c.cmd("PASS " + userPass); got != pop3Off {
		t.Fatalf("USER/PASS, POP3 off = %q", got)
	}
	if got := c.cmd(plainIR(userAddr, userPass)); got != pop3Off {
		t.Fatalf("AUTH PLAIN, POP3 off = %q", got)
	}

	other := dialGreeted(t, addr)
	other.login("second@local.test", "second-password")
	other.cmd("QUIT")

	w.setAccountServices(t, userAddr, directory.ServiceIMAP) // POP3 back on; IMAP stays off
	c.login2()
	if got := c.cmd("STAT"); got != "+OK 0 0" {
		t.Fatalf("STAT after POP3 was switched back on = %q", got)
	}
}

// A domain's POP3 switch refuses every account of the domain, whatever the account's own
// switches; a domain that switches off only other services lets POP3 in.
func TestServiceSwitchDomain(t *testing.T) {
	w := newWorld(t)
	w.Account(t, "second@local.test", "second-password", 0)
	w.setDomainServices(t, "local.test", directory.ServicePOP3)
	addr := w.start(t, nil)

	for _, u := range [][2]string{{userAddr, userPass}, {"second@local.test", "second-password"}} {
		c := dialGreeted(t, addr)
		c.stls()
		c.cmd("USER " + u[0])
		if got := c.cmd("PASS " + u[1]); got != pop3Off {
			t.Errorf("%s with the domain's POP3 off = %q", u[0], got)
		}
		c.cmd("QUIT")
	}

	w.setDomainServices(t, "local.test", directory.ServiceIMAP, directory.ServiceWebmail, directory.ServiceSubmission)
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	if got := c.cmd("STAT"); got != "+OK 0 0" {
		t.Fatalf("STAT with only other services off = %q", got)
	}
}
