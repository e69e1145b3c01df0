package mailets_test

import (
	"context"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/filter/sieve"
)

func activate(t *testing.T, e *deliverytest.Env, a directory.Account, src string) {
	t.Helper()
	ctx := context.Background()
	if _, err := sieve.Compile(src, sieve.Options{}); err != nil {
		t.Fatalf("script: %v", err)
	}
	must(t, e.Filter.PutScript(ctx, deliverytest.Ref(a), "main", src))
	must(t, e.Filter.SetActive(ctx, deliverytest.Ref(a), "main"))
}

func sieveStack(t *testing.T) *deliverytest.Env {
	return stack(t, func(e *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageLocal, filter.Rule{Mailet: &mailets.Sieve{Scripts: e.Filter, Vacations: e.Filter, Hostname: "mx.local.test"}})
	})
}

func TestSieveFileIntoThroughDelivery(t *testing.T) {
	ctx := context.Background()
	e := sieveStack(t)
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	plain := e.Account(t, "plain@local.test", "pw-p-1234", 0)
	_, err := e.Store.CreateMailbox(ctx, deliverytest.Ref(a), "Reports", "")
	must(t, err)
	activate(t, e, a, `require ["fileinto", "imap4flags", "envelope", "subaddress"];
if header :contains "subject" "report" { fileinto :flags "\\Seen" "Reports"; stop; }
if envelope :detail "to" "trash" { discard; stop; }
if header :is "x-priority" "1" { addflag "\\Flagged"; }
`)
	msg := func(subject string, extra string) string {
		return "From: x@remote.example\r\nTo: a@local.test\r\nSubject: " + subject + "\r\n" + extra + "\r\nbody\r\n"
	}
	for _, c := range []struct{ to, msg string }{
		{"a@local.test", msg("Weekly report", "")},
		{"a+trash@local.test", msg("junk", "")},
		{"a@local.test", msg("urgent", "X-Priority: 1\r\n")},
		{"plain@local.test", msg("Weekly report", "")}, // no script: kept
	} {
		if reply, _ := deliver(t, e, envTo("x@remote.example", c.to), c.msg); reply != nil {
			t.Fatalf("%s: %v", c.to, reply)
		}
	}
	rep := e.Messages(t, a, "Reports")
	if len(rep) != 1 || !strings.Contains(string(rep[0].Body), "Subject: Weekly report") || strings.Join(rep[0].Flags, " ") != `\Seen` {
		t.Fatalf("Reports: %+v", rep)
	}
	inbox := e.Messages(t, a, "")
	if len(inbox) != 1 || !strings.Contains(string(inbox[0].Body), "Subject: urgent") || strings.Join(inbox[0].Flags, " ") != `\Flagged` {
		t.Fatalf("INBOX: %d messages %+v (the +trash one must be discarded)", len(inbox), inbox)
	}
	if got := only(t, e, plain, ""); !strings.Contains(got, "Weekly report") {
		t.Fatal("account without a script")
	}
}

func TestSieveRejectAndVacation(t *testing.T) {
	e := sieveStack(t)
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	friend := e.Account(t, "friend@local.test", "pw-f-1234", 0)
	activate(t, e, a, `require ["reject", "vacation"];
if address :is "from" "spammer@remote.example" { reject "Go away."; stop; }
vacation :days 3 :subject "Away" :addresses ["a@local.test"] "I am away until Monday.";
`)
	reply, _ := deliver(t, e, envTo("spammer@remote.example", "a@local.test"),
		"From: spammer@remote.example\r\nTo: a@local.test\r\nSubject: hi\r\n\r\nbuy\r\n")
	wantReply(t, reply, 550, [3]int{5, 7, 1})
	if reply.Message != "Go away." {
		t.Fatalf("reject text %q", reply.Message)
	}
	note := "From: friend@local.test\r\nTo: a@local.test\r\nSubject: lunch?\r\nMessage-ID: <m1@local.test>\r\n\r\nlunch?\r\n"
	for range 2 {
		if reply, _ := deliver(t, e, envTo("friend@local.test", "a@local.test"), note); reply != nil {
			t.Fatal(reply)
		}
	}
	if n := len(e.Messages(t, a, "")); n != 2 {
		t.Fatalf("a@ kept %d, want 2 (vacation keeps)", n)
	}
	got := only(t, e, friend, "") // one reply within :days
	for _, want := range []string{"Return-Path: <>\r\n", "From: a@local.test\r\n", "To: friend@local.test\r\n",
		"Subject: Away\r\n", "In-Reply-To: <m1@local.test>\r\n", "Auto-Submitted: auto-replied", "I am away until Monday."} {
		if !strings.Contains(got, want) {
			t.Errorf("reply lacks %q:\n%s", want, got)
		}
	}
}
