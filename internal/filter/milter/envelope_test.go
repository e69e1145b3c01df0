package milter_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/filtertest"
	"mailgrid/internal/filter/milter"
	"mailgrid/internal/filter/milter/miltertest"
	"mailgrid/internal/mail"
)

func envelopeChains(t *testing.T, mt *milter.Milter, p filter.Policy) *filter.Chains {
	t.Helper()
	c := filter.NewChains(nil)
	r := filter.Rule{Mailet: mt.EnvelopeStages(), Policy: p, Timeout: 20 * time.Second}
	for _, st := range []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
		if err := c.Add(st, "", r); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// stage runs one envelope stage for a client at ip with sender from and recipient rcpt
// ("" = the stage's placeholder) and returns the fate.
func stage(t *testing.T, c *filter.Chains, st filter.Stage, ip, from, rcpt string) filter.Fate {
	t.Helper()
	env := &filter.Envelope{ClientIP: netip.MustParseAddr(ip), HELO: "client.remote.example", ID: "Q1"}
	if from != "" {
		env.From = mail.MustParse(from)
	}
	var addr mail.Address
	if rcpt != "" {
		addr = mail.MustParse(rcpt)
	}
	r := &filter.Recipient{Addr: addr, Orig: addr}
	m := filter.NewMail(st, env, nil, []*filter.Recipient{r})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Run(ctx, m); err != nil {
		t.Fatal(err)
	}
	return r.Fate
}

// TestMilterEnvelopeStages: a milter's connect, MAIL and RCPT callbacks answer at
// mailgrid's envelope stages. A rejected client, a blocked sender and one refused
// recipient get the milter's reply (its own text and code where it gave one); a
// recipient it tempfails is deferred with 451 4.7.1; the other recipients of the same
// transaction proceed. Each stage replays the transaction up to its command.
func TestMilterEnvelopeStages(t *testing.T) {
	addr, log := miltertest.Start(t)
	mt, err := milter.New(milter.Config{Name: "envmilter", Network: "tcp", Address: addr, Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	c := envelopeChains(t, mt, filter.FailClosed)

	if f := stage(t, c, filter.StageConnect, "192.0.2.66", "", ""); f.Kind != filter.Reject || f.Reply.Code != 550 || f.By != "envmilter" {
		t.Errorf("connect from 192.0.2.66: %+v", f)
	}
	log.Take()
	if f := stage(t, c, filter.StageConnect, "192.0.2.10", "", ""); f.Kind != filter.Deliver {
		t.Errorf("connect from 192.0.2.10: %+v", f)
	}
	if got := log.Take(); len(got) != 2 || got[0] != "connect [192.0.2.10]" || got[1] != "helo client.remote.example" {
		t.Errorf("connect stage replayed %q", got)
	}

	f := stage(t, c, filter.StageMail, "192.0.2.10", "spammer@bad.example", "")
	if f.Kind != filter.Reject || f.Reply.Code != 554 || f.Reply.Enhanced != [3]int{5, 7, 1} || f.Reply.Text != "Sender blocked by the test milter" {
		t.Errorf("MAIL from the blocked sender: %+v", f)
	}
	if f := stage(t, c, filter.StageMail, "192.0.2.10", "alice@remote.example", ""); f.Kind != filter.Deliver {
		t.Errorf("MAIL from alice: %+v", f)
	}
	log.Take()

	want := map[string]filter.Fate{
		"nobody@local.test": {Kind: filter.Reject, Reply: filter.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "No such user (test milter)"}},
		"later@local.test":  {Kind: filter.Defer, Reply: filter.Reply{Code: 451, Enhanced: [3]int{4, 7, 1}}},
		"a@local.test":      {Kind: filter.Deliver},
	}
	for _, rcpt := range []string{"a@local.test", "nobody@local.test", "later@local.test"} {
		f := stage(t, c, filter.StageRcpt, "192.0.2.10", "alice@remote.example", rcpt)
		w := want[rcpt]
		if f.Kind != w.Kind || f.Reply.Code != w.Reply.Code || f.Reply.Enhanced != w.Reply.Enhanced || w.Reply.Text != "" && f.Reply.Text != w.Reply.Text {
			t.Errorf("RCPT %s: %+v, want %+v", rcpt, f, w)
		}
	}
	got := log.Take()
	if len(got) != 12 || got[2] != "mail alice@remote.example" || got[3] != "rcpt a@local.test" || got[7] != "rcpt nobody@local.test" {
		t.Errorf("RCPT stages replayed %q", got)
	}
}

// TestRspamdMilterEnvelope: rspamd's proxy worker in milter mode (Debian rspamd) takes
// the short envelope-stage sessions (replay, then quit) and lets a client, sender and
// recipient through: rspamd judges at end of message only.
func TestRspamdMilterEnvelope(t *testing.T) {
	r := filtertest.StartRspamdMilter(t)
	mt, err := milter.New(milter.Config{Name: "rspamd-milter", Network: "tcp", Address: r.Milter, Hostname: "mx.test"})
	if err != nil {
		t.Fatal(err)
	}
	c := envelopeChains(t, mt, filter.FailClosed)
	for _, st := range []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
		if f := stage(t, c, st, "192.0.2.10", "alice@remote.example", "a@local.test"); f.Kind != filter.Deliver {
			t.Errorf("%s: %+v", st, f)
		}
	}
}

// TestMilterEnvelopeFailure: a milter that is not there fails the envelope stages:
// fail-closed defers the command (451 4.7.1), fail-open accepts it.
func TestMilterEnvelopeFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	mt, err := milter.New(milter.Config{Name: "gone", Network: "tcp", Address: dead, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed, open := envelopeChains(t, mt, filter.FailClosed), envelopeChains(t, mt, filter.FailOpen)
	for _, st := range []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
		f := stage(t, closed, st, "192.0.2.10", "alice@remote.example", "a@local.test")
		if f.Kind != filter.Defer || f.Reply.Code != 451 || f.Reply.Enhanced != [3]int{4, 7, 1} {
			t.Errorf("%s, fail-closed: %+v", st, f)
		}
		if f := stage(t, open, st, "192.0.2.10", "alice@remote.example", "a@local.test"); f.Kind != filter.Deliver {
			t.Errorf("%s, fail-open: %+v", st, f)
		}
	}
	if err := mt.EnvelopeStages().Health(t.Context()); err == nil {
		t.Error("health of a milter that is not there: nil")
	}
}

// BenchmarkMilterEnvelopeRcpt: one RCPT-stage check against the test milter on
// loopback (a session of its own: connect, negotiate, connect, HELO, MAIL, RCPT, quit),
// the cost each recipient pays when a milter runs at RCPT.
func BenchmarkMilterEnvelopeRcpt(b *testing.B) {
	addr, log := miltertest.Start(b)
	mt, err := milter.New(milter.Config{Name: "judge", Network: "tcp", Address: addr, Hostname: "mx.test"})
	if err != nil {
		b.Fatal(err)
	}
	e := mt.EnvelopeStages()
	env := &filter.Envelope{ClientIP: netip.MustParseAddr("192.0.2.10"), HELO: "client.remote.example", From: mail.MustParse("alice@remote.example")}
	rcpt := mail.MustParse("a@local.test")
	b.ReportAllocs()
	for b.Loop() {
		r := &filter.Recipient{Addr: rcpt, Orig: rcpt}
		if err := e.Service(b.Context(), filter.NewMail(filter.StageRcpt, env, nil, []*filter.Recipient{r})); err != nil {
			b.Fatal(err)
		}
		if r.Final() {
			b.Fatalf("fate %+v", r.Fate)
		}
		log.Take()
	}
}
