package smtpserver_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/smtpserver"
)

func plainIR(user, pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// submissionSession opens a submission session under TLS, ready for AUTH.
func submissionSession(t *testing.T, w *world, addr string) *client {
	t.Helper()
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.startTLS()
	c.ok("EHLO client.test", 250)
	return c
}

// An account whose submission switch is off fails AUTH with 535 5.7.8 after the right
// password (PLAIN and LOGIN), stays unauthenticated, and sends nothing; a wrong password
// gives the ordinary failure. Other accounts are unaffected, and switching submission
// back on binds the next AUTH in the same session.
func TestSubmissionSwitchAccount(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, func(o *smtpserver.Options) { o.MaxErrors = 100 })
	off := []string{directory.ServiceSubmission, directory.ServicePOP3}
	if _, err := w.Dir.UpdateAccount(t.Context(), w.sender.Address, directory.AccountUpdate{DisabledServices: &off}); err != nil {
		t.Fatal(err)
	}
	c := submissionSession(t, w, addr)
	if text := c.ok(plainIR("sender@local.test", "wrong"), 535, "5.7.8"); strings.Contains(text, "submission") {
		t.Errorf("wrong password reveals the switch: %q", text)
	}
	if text := c.ok(plainIR("sender@local.test", "sender-password"), 535, "5.7.8"); !strings.Contains(text, "submission is disabled") {
		t.Errorf("submission off: %q, want the reason named", text)
	}
	c.ok("AUTH LOGIN", 334)
	c.ok(b64("sender@local.test"), 334)
	c.ok(b64("sender-password"), 535, "5.7.8")
	c.ok("MAIL FROM:<sender@local.test>", 530, "5.7.0") // still not authenticated

	o := submissionSession(t, w, addr)
	o.login("user@local.test", "user-password")
	o.ok("MAIL FROM:<user@local.test>", 250)

	on := []string{directory.ServicePOP3}
	if _, err := w.Dir.UpdateAccount(t.Context(), w.sender.Address, directory.AccountUpdate{DisabledServices: &on}); err != nil {
		t.Fatal(err)
	}
	c.login("sender@local.test", "sender-password")
	c.ok("MAIL FROM:<sender@local.test>", 250)
	w.nothingStored(t)
}

// The domain's submission switch refuses every account of the domain; switching off only
// other services leaves submission alone.
func TestSubmissionSwitchDomain(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, nil)
	setDomain := func(off ...string) {
		t.Helper()
		dom, err := w.Dir.Domain(t.Context(), "local.test")
		if err != nil {
			t.Fatal(err)
		}
		dom.DisabledServices = off
		if err := w.Dir.UpdateDomain(t.Context(), dom); err != nil {
			t.Fatal(err)
		}
	}
	setDomain(directory.ServiceSubmission)
	c := submissionSession(t, w, addr)
	c.ok(plainIR("sender@local.test", "sender-password"), 535, "5.7.8")
	c.ok(plainIR("user@local.test", "user-password"), 535, "5.7.8")

	setDomain(directory.ServiceIMAP, directory.ServicePOP3, directory.ServiceWebmail, directory.ServiceManageSieve)
	c.login("sender@local.test", "sender-password")
	c.ok("MAIL FROM:<sender@local.test>", 250)
	w.nothingStored(t)
}
