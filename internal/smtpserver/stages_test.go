package smtpserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/filtertest"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/filter/milter"
	"mailgrid/internal/smtpserver"
	"mailgrid/internal/store"
)

// stagesWorld is a world whose chains run the block list at connect, MAIL and RCPT and
// the domain rules at DATA, over the real filter state (filter/sqlite).
func stagesWorld(t *testing.T) (*world, string) {
	t.Helper()
	w := newWorld(t, deliverytest.Options{Chains: func(e *deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		bl := filter.Rule{Mailet: &mailets.BlockList{Lists: e.Filter}}
		for _, st := range []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
			if err := c.Add(st, "", bl); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Add(filter.StageData, "", filter.Rule{Mailet: &mailets.DomainRules{Rules: e.Filter}}); err != nil {
			t.Fatal(err)
		}
		return c
	}})
	w.Domain(t, "second.test", 0, 0)
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	return w, addr
}

func block(t *testing.T, w *world, domain, kind, value string) func() {
	t.Helper()
	k, err := filter.ParseBlockKind(kind)
	if err != nil {
		t.Fatal(err)
	}
	v, err := filter.NormalizeBlock(k, value)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.Filter.AddBlock(ctx, filter.BlockEntry{Domain: domain, Kind: k, Value: v, Note: "test"}); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := w.Filter.RemoveBlock(ctx, domain, k, v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStagesBlockList: Python's smtplib hears the block list's refusals during the
// session, at the command they concern, and nothing is stored.
func TestStagesBlockList(t *testing.T) {
	w, addr := stagesWorld(t)
	second := w.Account(t, "bob@second.test", "bob-password", 0)
	msg := "From: x@spam.example\r\nTo: user@local.test\r\nSubject: hi\r\n\r\nhello\r\n"
	send := func(from string, to ...string) pyResult {
		o := pyOpts(addr, msg)
		o["from"], o["to"] = from, to
		return runPython(t, o)
	}

	// connect: the system list's CIDR refuses the greeting.
	undo := block(t, w, "", "ip", "127.0.0.0/8")
	if r := send("x@spam.example", "user@local.test"); r.OK || r.Code != 554 || !strings.Contains(r.Text, "5.7.1 Client address blocked") { // at MAIL
		t.Errorf("blocked client: %+v", r)
	}
	undo()

	// MAIL: a system sender entry.
	undo = block(t, w, "", "sender", "Spammer@Spam.Example")
	if r := send("spammer@spam.example", "user@local.test"); r.OK || r.Code != 550 || !strings.Contains(r.Text, "5.7.1 Sender address blocked") {
		t.Errorf("blocked sender: %+v", r)
	}
	undo()

	// RCPT: local.test blocks a sender domain (and its subdomains); second.test does not,
	// so only the local.test recipient is refused.
	undo = block(t, w, "local.test", "sender-domain", "spam.example")
	r := send("x@mx.spam.example", "user@local.test", "bob@second.test")
	if !r.OK || len(r.Refused) != 1 || r.Refused["user@local.test"] == nil {
		t.Fatalf("domain list: %+v", r)
	}
	if got := r.Refused["user@local.test"]; got[0].(float64) != 550 || !strings.Contains(got[1].(string), "5.7.1") {
		t.Errorf("refusal %v", got)
	}
	inbox(t, w, second, 1)
	if n := w.Total(t, w.user); n != 0 {
		t.Errorf("blocked recipient got %d messages", n)
	}
	undo()
	if r := send("x@mx.spam.example", "user@local.test"); !r.OK {
		t.Errorf("after removal: %+v", r)
	}
}

// TestStagesDomainRules: a domain's rules act at DATA on its recipients only; the
// system's rules on everyone.
func TestStagesDomainRules(t *testing.T) {
	w, addr := stagesWorld(t)
	second := w.Account(t, "bob@second.test", "bob-password", 0)
	ctx := context.Background()
	put := func(r filter.DomainRule) {
		t.Helper()
		r.Enabled = true
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Filter.PutDomainRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	put(filter.DomainRule{Domain: "local.test", Name: "lottery", Action: filter.ActionReject, Arg: "No lotteries here",
		Conditions: []filter.Condition{{Field: filter.FieldSubject, Op: filter.OpContains, Value: "LOTTERY"}}})
	put(filter.DomainRule{Domain: "local.test", Name: "newsletters", Action: filter.ActionFileInto, Arg: "Junk",
		Conditions: []filter.Condition{{Field: filter.FieldHeader, Header: "List-Id", Op: filter.OpExists}}})
	put(filter.DomainRule{Name: "tag", Action: filter.ActionAddHeader, Arg: "X-Policy: big",
		Conditions: []filter.Condition{{Field: filter.FieldSize, Op: filter.OpOver, Value: "10"}}})

	send := func(subject, extra string, to ...string) pyResult {
		msg := "From: a@remote.example\r\nTo: user@local.test\r\nSubject: " + subject + "\r\n" + extra + "\r\nhello\r\n"
		o := pyOpts(addr, msg)
		o["from"], o["to"] = "a@remote.example", to
		return runPython(t, o)
	}
	// Every recipient refused: the rule's text is the reply to DATA.
	if r := send("=?utf-8?q?Your_lottery_win?=", "", "user@local.test"); r.OK || r.Code != 550 || !strings.Contains(r.Text, "No lotteries here") {
		t.Errorf("lottery to local.test: %+v", r)
	}
	// second.test has no such rule.
	if r := send("Your lottery win", "", "bob@second.test"); !r.OK {
		t.Errorf("lottery to second.test: %+v", r)
	}
	got := inbox(t, w, second, 1)[0]
	if !strings.Contains(string(got.Body), "X-Policy: big\r\n") {
		t.Errorf("system rule header missing:\n%s", got.Body)
	}
	// fileinto: the keep goes to Junk.
	if r := send("news", "List-Id: <list.example>\r\n", "user@local.test"); !r.OK {
		t.Fatalf("newsletter: %+v", r)
	}
	if ms := w.Messages(t, w.user, "Junk"); len(ms) != 1 {
		t.Errorf("Junk holds %d messages, want 1", len(ms))
	}
	if ms := w.Messages(t, w.user, store.Inbox); len(ms) != 0 {
		t.Errorf("INBOX holds %d messages, want 0", len(ms))
	}
}

// TestStagesMilter: rspamd's milter (Debian rspamd, proxy worker in milter mode) on the
// DATA stage of the MX: Python's smtplib hears rspamd's reject of GTUBE as the reply to
// DATA, and a plain message is stored with the header the milter added.
func TestStagesMilter(t *testing.T) {
	rs := filtertest.StartRspamdMilter(t)
	mt, err := milter.New(milter.Config{Name: "rspamd", Network: "tcp", Address: rs.Milter, Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, deliverytest.Options{Chains: func(*deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		if err := c.Add(filter.StageData, "", filter.Rule{Mailet: mt, Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		return c
	}})
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	send := func(body string) pyResult {
		msg := "From: a@remote.example\r\nTo: user@local.test\r\nSubject: test\r\nMessage-ID: <m@remote.example>\r\n" +
			"Date: Sat, 14 Mar 2026 15:09:26 +0100\r\n\r\n" + body + "\r\n"
		o := pyOpts(addr, msg)
		o["from"], o["to"] = "a@remote.example", []string{"user@local.test"}
		return runPython(t, o)
	}
	if r := send(filtertest.GTUBE); r.OK || r.Code != 554 || !strings.Contains(r.Text, "5.7.1") {
		t.Errorf("GTUBE: %+v", r)
	}
	if n := w.Total(t, w.user); n != 0 {
		t.Fatalf("GTUBE stored (%d)", n)
	}
	if r := send("Shall we have lunch on Friday?"); !r.OK {
		t.Fatalf("plain message: %+v", r)
	}
	if got := inbox(t, w, w.user, 1)[0]; !strings.Contains(string(got.Body), "X-Spamd-Result: ") {
		t.Errorf("no X-Spam header from the milter:\n%s", got.Body)
	}
}
