package delivery_test

import (
	"context"
	"strings"
	"testing"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// goMailet is a compiled-in test mailet: real code on the real pipeline.
type goMailet struct {
	name string
	fn   func(ctx context.Context, m *filter.Mail) error
}

func (g *goMailet) Name() string                                      { return g.name }
func (g *goMailet) Service(ctx context.Context, m *filter.Mail) error { return g.fn(ctx, m) }

func mailet(name string, fn func(m *filter.Mail, r *filter.Recipient)) *goMailet {
	return &goMailet{name, func(_ context.Context, m *filter.Mail) error {
		for _, r := range m.Recipients {
			fn(m, r)
		}
		return nil
	}}
}

func chains(t *testing.T, add func(c *filter.Chains)) func(*deliverytest.Env) *filter.Chains {
	return func(*deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		add(c)
		return c
	}
}

func addRule(t *testing.T, c *filter.Chains, stage filter.Stage, domain string, r filter.Rule) {
	t.Helper()
	if err := c.Add(stage, domain, r); err != nil {
		t.Fatal(err)
	}
}

func TestDataStageRejectAndDeferAreSMTPReplies(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{Chains: chains(t, func(c *filter.Chains) {
		addRule(t, c, filter.StageData, "", filter.Rule{Mailet: mailet("policy", func(_ *filter.Mail, r *filter.Recipient) {
			switch r.Addr.Local {
			case "reject":
				r.Reject(filter.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "spam\r\nrefused"})
			case "defer":
				r.Defer(filter.Reply{Code: 450, Enhanced: [3]int{4, 7, 1}, Text: "greylisted"})
			}
		})})
	})})
	e.Domain(t, "local.test", 0, 0)
	ok := e.Account(t, "ok@local.test", "pw-ok-1234", 0)
	e.Account(t, "reject@local.test", "pw-rej-1234", 0)
	e.Account(t, "defer@local.test", "pw-def-1234", 0)
	from := mail.MustParse("a@remote.example")

	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{From: from, Recipients: rcpts("reject@local.test")}, delivery.Bytes(msg))
	reply, bounce := delivery.Outcome(res, err)
	wantCode(t, reply, 554, [3]int{5, 7, 1})
	if len(bounce) != 0 || strings.ContainsAny(reply.Message, "\r\n") {
		t.Fatalf("reply %q, bounces %d", reply.Message, len(bounce))
	}
	res, err = e.Pipeline.Deliver(ctx, &delivery.Envelope{From: from, Recipients: rcpts("defer@local.test", "reject@local.test")}, delivery.Bytes(msg))
	reply, _ = delivery.Outcome(res, err)
	wantCode(t, reply, 450, [3]int{4, 7, 1}) // nothing committed: the temporary failure wins

	res, err = e.Pipeline.Deliver(ctx, &delivery.Envelope{From: from, Recipients: rcpts("ok@local.test", "reject@local.test")}, delivery.Bytes(msg))
	reply, bounce = delivery.Outcome(res, err)
	if reply != nil || len(bounce) != 1 || bounce[0].Rcpt.Addr.Local != "reject" {
		t.Fatalf("partial: reply %v, bounce %+v", reply, bounce)
	}
	if n := len(e.Messages(t, ok, "")); n != 1 {
		t.Fatalf("ok@ has %d messages", n)
	}
}

func TestHeaderEditsAndPerAccountBodies(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{Chains: chains(t, func(c *filter.Chains) {
		addRule(t, c, filter.StageData, "", filter.Rule{Mailet: &goMailet{"tag", func(_ context.Context, m *filter.Mail) error {
			if err := m.Message.RemoveHeader("X-Forged"); err != nil {
				return err
			}
			return m.Message.AddHeader("X-Scanned", "yes")
		}}})
		addRule(t, c, filter.StageLocal, "", filter.Rule{Matcher: filter.RecipientIs("b@local.test"),
			Mailet: mailet("junk", func(m *filter.Mail, r *filter.Recipient) {
				if err := m.Message.AddHeader("X-Spam", "yes"); err != nil {
					t.Error(err)
				}
				r.KeepIn("Junk")
			})})
	})})
	e.Domain(t, "local.test", 0, 0)
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	c := e.Account(t, "c@local.test", "pw-c-1234", 0)
	b := e.Account(t, "b@local.test", "pw-b-1234", 0)
	in := "X-Forged: 1\r\n" + msg
	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{Recipients: rcpts("a@local.test", "b@local.test", "c@local.test")}, delivery.Bytes(in))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatal(reply)
	}
	want := "Return-Path: <>\r\nX-Scanned: yes\r\n" + msg
	ma, mc := e.Messages(t, a, ""), e.Messages(t, c, "")
	if len(ma) != 1 || string(ma[0].Body) != want || len(mc) != 1 || mc[0].BlobID != ma[0].BlobID {
		t.Fatalf("a/c: %+v %+v (one shared body with the DATA-stage edits)", ma, mc)
	}
	if n := len(e.Messages(t, b, "")); n != 0 {
		t.Fatalf("b@ INBOX has %d", n)
	}
	mb := e.Messages(t, b, "Junk")
	if len(mb) != 1 || string(mb[0].Body) != "Return-Path: <>\r\nX-Spam: yes\r\nX-Scanned: yes\r\n"+msg {
		t.Fatalf("b@ Junk: %+v", mb)
	}
}

func TestLocalFilingDiscardAndRedirect(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{Chains: chains(t, func(c *filter.Chains) {
		addRule(t, c, filter.StageLocal, "", filter.Rule{Mailet: mailet("rules", func(_ *filter.Mail, r *filter.Recipient) {
			switch r.Addr.Local {
			case "lists":
				r.FileInto("Lists", []string{`\Seen`}, false)
			case "void":
				r.Discard()
			case "fwd":
				r.Redirect(mail.MustParse("friend@far.example"), true)
			case "loop":
				r.Redirect(mail.MustParse("loop2@local.test"), false)
			case "loop2":
				r.Redirect(mail.MustParse("loop@local.test"), false)
			}
		})})
	})})
	e.Domain(t, "local.test", 0, 0)
	lists := e.Account(t, "lists@local.test", "pw-l-1234", 0)
	if _, err := e.Store.CreateMailbox(ctx, deliverytest.Ref(lists), "Lists", ""); err != nil {
		t.Fatal(err)
	}
	void := e.Account(t, "void@local.test", "pw-v-1234", 0)
	fwd := e.Account(t, "fwd@local.test", "pw-f-1234", 0)
	e.Account(t, "loop@local.test", "pw-o-1234", 0)
	e.Account(t, "loop2@local.test", "pw-o-5678", 0)
	from := mail.MustParse("a@remote.example")
	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{From: from, Recipients: rcpts("lists@local.test", "void@local.test", "fwd@local.test")}, delivery.Bytes(msg))
	if reply, bounce := delivery.Outcome(res, err); reply != nil || len(bounce) != 0 {
		t.Fatalf("%v %v", reply, bounce)
	}
	if ms := e.Messages(t, lists, "Lists"); len(ms) != 1 || len(ms[0].Flags) != 1 {
		t.Fatalf("Lists: %+v", ms)
	}
	if n := e.Total(t, void); n != 0 || !res[1].Committed {
		t.Fatalf("discarded copy stored (%d) or not accepted", n)
	}
	if n := len(e.Messages(t, fwd, "")); n != 1 {
		t.Fatalf("redirect :copy kept %d", n)
	}
	items := e.QueueItems(t)
	if len(items) != 1 || items[0].Recipients[0].Addr != "friend@far.example" || items[0].Envelope.From != "a@remote.example" ||
		!strings.HasPrefix(string(items[0].Body), "Delivered-To: fwd@local.test\r\n") {
		t.Fatalf("queued redirect: %+v", items)
	}
	if o := items[0].Recipients[0].ORcpt; o != "rfc822;fwd@local.test" {
		t.Errorf("ORCPT %q", o)
	}
	// loop@ -> loop2@ -> loop@: stopped by Delivered-To, the sender gets the failure.
	res, err = e.Pipeline.Deliver(ctx, &delivery.Envelope{From: from, Recipients: rcpts("loop@local.test")}, delivery.Bytes(msg))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || res[0].Err.Enhanced != [3]int{5, 4, 6} {
		t.Fatalf("loop: %+v", res[0])
	}
}

func TestQuarantineAndRelease(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{Chains: chains(t, func(c *filter.Chains) {
		addRule(t, c, filter.StageData, "", filter.Rule{Mailet: &goMailet{"virus", func(_ context.Context, m *filter.Mail) error {
			if err := m.Message.AddHeader("X-Virus", "Test.Sig"); err != nil {
				return err
			}
			for _, r := range m.Recipients {
				r.Quarantine("virus Test.Sig")
			}
			return nil
		}}})
	})})
	e.Domain(t, "local.test", 0, 0)
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	b := e.Account(t, "b@local.test", "pw-b-1234", 0)
	e.Alias(t, "team@local.test", "a@local.test", "b@local.test")
	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{From: mail.MustParse("x@remote.example"), Recipients: rcpts("team@local.test")}, delivery.Bytes(msg))
	if reply, bounce := delivery.Outcome(res, err); reply != nil || len(bounce) != 0 || !res[0].Committed {
		t.Fatalf("quarantine must accept: %v %v %+v", reply, bounce, res[0])
	}
	if n := e.Total(t, a, b); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
	held, err := e.Filter.List(ctx, filter.QuarantineQuery{Domain: "local.test"})
	if err != nil || len(held) != 2 {
		t.Fatalf("held: %+v %v", held, err)
	}
	mine, _ := e.Filter.List(ctx, filter.QuarantineQuery{Domain: "local.test", Account: a.ID})
	if len(mine) != 1 || mine[0].Reason != "virus Test.Sig" || mine[0].Mailet != "virus" || mine[0].Rcpt != a.Address {
		t.Fatalf("a@'s quarantine: %+v", mine)
	}
	if err := e.Pipeline.Release(ctx, "local.test", mine[0].ID); err != nil {
		t.Fatal(err)
	}
	ms := e.Messages(t, a, "")
	if len(ms) != 1 || string(ms[0].Body) != "Return-Path: <x@remote.example>\r\nX-Virus: Test.Sig\r\n"+msg {
		t.Fatalf("released: %+v", ms)
	}
	if n := e.Total(t, b); n != 0 {
		t.Fatal("release of a@'s copy delivered b@'s too")
	}
	if left, _ := e.Filter.List(ctx, filter.QuarantineQuery{}); len(left) != 1 {
		t.Fatalf("%d held after release, want 1", len(left))
	}
}

func TestFailClosedDefersWholeMessage(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{Chains: chains(t, func(c *filter.Chains) {
		addRule(t, c, filter.StageData, "", filter.Rule{Mailet: &goMailet{"scanner", func(context.Context, *filter.Mail) error {
			return context.DeadlineExceeded
		}}})
	})})
	e.Domain(t, "local.test", 0, 0)
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{Recipients: rcpts("a@local.test")}, delivery.Bytes(msg))
	reply, _ := delivery.Outcome(res, err)
	wantCode(t, reply, 451, [3]int{4, 7, 1})
	if n := e.Total(t, a); n != 0 {
		t.Fatal("delivered unchecked")
	}
}
