package managesieve_test

import (
	"strings"
	"testing"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// filingScript is what the client tests upload: reports go to "Reports", mail for the
// "+lists" sub-address to "Lists", the rest stays in INBOX.
const filingScript = "require [\"fileinto\", \"envelope\", \"subaddress\"];\r\n" +
	"# uploaded over ManageSieve\r\n" +
	"if header :contains \"subject\" \"report\" {\r\n" +
	"  fileinto \"Reports\";\r\n" +
	"  stop;\r\n" +
	"}\r\n" +
	"if envelope :detail \"to\" \"lists\" {\r\n" +
	"  fileinto \"Lists\";\r\n" +
	"}\r\n"

// A script uploaded over ManageSieve and activated files the next delivered messages:
// PUTSCRIPT and SETACTIVE over a real socket, then delivery.Pipeline with the Sieve
// mailet over the same SQLite filter state; deactivating it (SETACTIVE "") sends mail
// back to INBOX.
func TestUploadedScriptFilesDelivery(t *testing.T) {
	w := newWorld(t)
	c := dialGreeted(t, w.start(t, nil))
	c.login(userAddr, userPass)
	if got := c.cmd(`PUTSCRIPT "filing" ` + literal(filingScript)); got != `OK "Putscript completed"` {
		t.Fatal(got)
	}
	w.checkDeliveryUnfiled(t, "uploaded, not active")
	if got := c.cmd(`SETACTIVE "filing"`); got != `OK "Setactive completed"` {
		t.Fatal(got)
	}
	w.checkFiling(t)
	if got := c.cmd(`SETACTIVE ""`); got != `OK "Setactive completed"` {
		t.Fatal(got)
	}
	w.checkDeliveryUnfiled(t, "deactivated")
}

// deliverTo runs one message through the delivery pipeline.
func (w *world) deliverTo(t *testing.T, rcpt, subject string) {
	t.Helper()
	env := &delivery.Envelope{From: mail.MustParse("sender@remote.test"),
		Recipients: []delivery.Recipient{{Addr: mail.MustParse(rcpt)}}}
	msg := "From: sender@remote.test\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
	res, err := w.Pipeline.Deliver(t.Context(), env, delivery.Bytes(msg))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatalf("deliver to %s: %v", rcpt, reply)
	}
}

// subjects lists the subjects in a mailbox ("" = INBOX).
func (w *world) subjects(t *testing.T, mailbox string) []string {
	t.Helper()
	var out []string
	for _, m := range w.Messages(t, w.user, mailbox) {
		for _, l := range strings.Split(string(m.Body), "\r\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// ensureFolders creates the mailboxes the filing script files into (a missing one
// would fall back to INBOX, RFC 5228 4.1 lets the server choose).
func (w *world) ensureFolders(t *testing.T) {
	t.Helper()
	for _, name := range []string{"Reports", "Lists"} {
		if _, err := w.Store.Mailbox(t.Context(), refOf(w), name); err == nil {
			continue
		}
		if _, err := w.Store.CreateMailbox(t.Context(), refOf(w), name, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFiling delivers three messages and checks that the active filing script put
// each where it belongs.
func (w *world) checkFiling(t *testing.T) {
	t.Helper()
	w.ensureFolders(t)
	before := len(w.subjects(t, ""))
	w.deliverTo(t, userAddr, "Weekly report")
	w.deliverTo(t, "user+lists@local.test", "List traffic")
	w.deliverTo(t, userAddr, "Hello")
	if got := w.subjects(t, "Reports"); len(got) != 1 || got[0] != "Weekly report" {
		t.Fatalf("Reports holds %q", got)
	}
	if got := w.subjects(t, "Lists"); len(got) != 1 || got[0] != "List traffic" {
		t.Fatalf("Lists holds %q", got)
	}
	if got := w.subjects(t, ""); len(got) != before+1 || got[len(got)-1] != "Hello" {
		t.Fatalf("INBOX holds %q", got)
	}
}

// checkDeliveryUnfiled delivers a report and checks it stays in INBOX.
func (w *world) checkDeliveryUnfiled(t *testing.T, when string) {
	t.Helper()
	w.ensureFolders(t)
	reports := len(w.subjects(t, "Reports"))
	w.deliverTo(t, userAddr, "Monthly report "+when)
	inbox := w.subjects(t, "")
	if len(w.subjects(t, "Reports")) != reports || len(inbox) == 0 || inbox[len(inbox)-1] != "Monthly report "+when {
		t.Fatalf("%s: the script filed a message (INBOX %q)", when, inbox)
	}
}

func refOf(w *world) store.AccountRef { return deliverytest.Ref(w.user) }
