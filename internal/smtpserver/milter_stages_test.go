package smtpserver_test

import (
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/milter"
	"mailgrid/internal/filter/milter/miltertest"
	"mailgrid/internal/smtpserver"
)

// TestStagesMilterEnvelope: a milter (miltertest, go-milter's server side) configured at
// every stage of the MX, as app does by default. Python's smtplib hears the milter's
// refusal of a sender as the reply to MAIL FROM; of three recipients, the one the
// milter refuses at RCPT gets the milter's own reply, the one it tempfails 451 4.7.1,
// and the third is delivered with the header the milter added at end of message.
func TestStagesMilterEnvelope(t *testing.T) {
	addr, log := miltertest.Start(t)
	mt, err := milter.New(milter.Config{Name: "judge", Network: "tcp", Address: addr, Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, deliverytest.Options{Chains: func(*deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		for _, st := range []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
			if err := c.Add(st, "", filter.Rule{Mailet: mt.EnvelopeStages(), Timeout: 30 * time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Add(filter.StageData, "", filter.Rule{Mailet: mt, Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		return c
	}})
	nobody := w.Account(t, "nobody@local.test", "nobody-password", 0) // exists: the refusal is the milter's
	later := w.Account(t, "later@local.test", "later-password", 0)
	_, srv := w.server(t, smtpserver.ModeMX, nil)
	send := func(from string, to ...string) pyResult {
		o := pyOpts(srv, "From: "+from+"\r\nTo: user@local.test\r\nSubject: milter\r\n\r\nhello\r\n")
		o["from"], o["to"] = from, to
		return runPython(t, o)
	}

	if r := send("spammer@bad.example", "user@local.test"); r.OK || r.Code != 554 || r.Text != "5.7.1 Sender blocked by the test milter" {
		t.Errorf("blocked sender: %+v", r)
	}
	if n := w.Total(t, w.user); n != 0 {
		t.Fatalf("the blocked sender's message was stored (%d)", n)
	}
	log.Take()

	r := send("alice@remote.example", "user@local.test", "nobody@local.test", "later@local.test")
	if !r.OK || len(r.Refused) != 2 {
		t.Fatalf("three recipients: %+v", r)
	}
	if got := r.Refused["nobody@local.test"]; got == nil || got[0].(float64) != 550 || got[1].(string) != "5.1.1 No such user (test milter)" {
		t.Errorf("nobody@: %v", got)
	}
	if got := r.Refused["later@local.test"]; got == nil || got[0].(float64) != 451 || !strings.HasPrefix(got[1].(string), "4.7.1 ") {
		t.Errorf("later@: %v", got)
	}
	if got := inbox(t, w, w.user, 1)[0]; !strings.Contains(string(got.Body), "X-Test-Milter: checked\r\n") {
		t.Errorf("no header from the milter's end of message:\n%s", got.Body)
	}
	if n := w.Total(t, nobody, later); n != 0 {
		t.Errorf("refused recipients got %d messages", n)
	}
	// The milter heard the connect stage (at EHLO), MAIL and each RCPT in sessions of
	// their own, and the whole transaction once more at DATA with the accepted recipient.
	calls := strings.Join(log.Take(), "\n")
	for _, want := range []string{"connect [127.0.0.1]", "helo py.client.test", "mail alice@remote.example", "rcpt nobody@local.test", "rcpt later@local.test", "eom"} {
		if !strings.Contains(calls, want) {
			t.Errorf("the milter did not hear %q:\n%s", want, calls)
		}
	}
}
