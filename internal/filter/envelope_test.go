package filter_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// envMailet may run at the envelope stages (it names them).
type envMailet struct {
	mailetFunc
	stages []filter.Stage
}

func (e *envMailet) Stages() []filter.Stage { return e.stages }

func TestEnvelopeStages(t *testing.T) {
	plain := &mailetFunc{name: "plain", fn: func(context.Context, *filter.Mail) error { return nil }}
	c := filter.NewChains(nil)
	for _, st := range []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
		if !st.Envelope() {
			t.Errorf("%s is an envelope stage", st)
		}
		if err := c.Add(st, "", filter.Rule{Mailet: plain}); err == nil {
			t.Errorf("a mailet without Stager was added at %s", st)
		}
		if got, ok := filter.ParseStage(st.String()); !ok || got != st {
			t.Errorf("ParseStage(%q) = %v %v", st.String(), got, ok)
		}
	}
	var seen []string
	rec := func(name string, stages ...filter.Stage) *envMailet {
		return &envMailet{mailetFunc{name: name, fn: func(_ context.Context, m *filter.Mail) error {
			if m.Message != nil {
				t.Errorf("%s: a message at %s", name, m.Stage)
			}
			for _, r := range m.Recipients {
				seen = append(seen, name+":"+r.Addr.String())
			}
			return nil
		}}, stages}
	}
	if err := c.Add(filter.StageConnect, "example.org", filter.Rule{Mailet: rec("x", filter.StageConnect)}); err == nil {
		t.Error("a domain rule at connect")
	}
	add := func(st filter.Stage, dom string, m filter.Mailet, p filter.Policy) {
		t.Helper()
		if err := c.Add(st, dom, filter.Rule{Mailet: m, Policy: p}); err != nil {
			t.Fatal(err)
		}
	}
	add(filter.StageMail, "", rec("global", filter.StageMail), filter.FailClosed)
	add(filter.StageMail, "sender.example", rec("sender-dom", filter.StageMail), filter.FailClosed)
	add(filter.StageMail, "other.example", rec("other-dom", filter.StageMail), filter.FailClosed)
	add(filter.StageRcpt, "local.test", rec("rcpt-dom", filter.StageRcpt), filter.FailClosed)
	failing := &envMailet{mailetFunc{name: "down", fn: func(context.Context, *filter.Mail) error { return errors.New("unreachable") }},
		[]filter.Stage{filter.StageConnect}}
	add(filter.StageConnect, "", failing, filter.FailOpen)

	env := &filter.Envelope{From: mail.MustParse("a@sender.example"), ClientIP: netip.MustParseAddr("192.0.2.1")}
	run := func(st filter.Stage, addr mail.Address) *filter.Recipient {
		r := &filter.Recipient{Addr: addr, Orig: addr}
		if err := c.Run(context.Background(), filter.NewMail(st, env, nil, []*filter.Recipient{r})); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// MAIL: the global rule and the sender domain's, not another domain's.
	run(filter.StageMail, mail.Address{})
	// RCPT: the recipient domain's rules.
	run(filter.StageRcpt, mail.MustParse("u@local.test"))
	run(filter.StageRcpt, mail.MustParse("u@elsewhere.test"))
	want := []string{"global:", "sender-dom:", "rcpt-dom:u@local.test"}
	if len(seen) != len(want) {
		t.Fatalf("ran %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("ran %v, want %v", seen, want)
			break
		}
	}
	// A fail-open failure at an envelope stage accepts: there is nothing to tag.
	if r := run(filter.StageConnect, mail.Address{}); r.Final() {
		t.Errorf("fail-open at connect: %+v", r.Fate)
	}
}
