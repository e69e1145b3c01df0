package delivery_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

func TestSRSForwardReverse(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	s := &delivery.SRS{Secret: []byte("k"), Now: func() time.Time { return now }}
	orig := mail.MustParse("Alice@Sender.example")
	fwd := s.Forward(orig, "local.test")
	if fwd.Domain != "local.test" || !strings.HasPrefix(fwd.Local, "SRS0=") || !strings.HasSuffix(fwd.Local, "=sender.example=Alice") {
		t.Fatalf("forward %s", fwd)
	}
	back, err := s.Reverse(fwd)
	if err != nil || back.String() != "Alice@sender.example" {
		t.Fatalf("reverse %s: %v %v", fwd, back, err)
	}
	// An MTA that folds the local part to lower case keeps it valid.
	lower := mail.MustParse(strings.ToLower(fwd.String()))
	if _, err := s.Reverse(lower); err != nil {
		t.Errorf("lower-cased: %v", err)
	}
	forged := mail.MustParse(strings.Replace(fwd.String(), "=sender.example=", "=victim.example=", 1))
	if _, err := s.Reverse(forged); err == nil {
		t.Error("forged address accepted")
	}
	if _, err := (&delivery.SRS{Secret: []byte("other"), Now: s.Now}).Reverse(fwd); err == nil {
		t.Error("another secret accepted it")
	}
	later := &delivery.SRS{Secret: []byte("k"), Now: func() time.Time { return now.Add(22 * 24 * time.Hour) }}
	if _, err := later.Reverse(fwd); err == nil {
		t.Error("22-day-old address accepted")
	}
	soon := &delivery.SRS{Secret: []byte("k"), Now: func() time.Time { return now.Add(20 * 24 * time.Hour) }}
	if _, err := soon.Reverse(fwd); err != nil {
		t.Errorf("20-day-old address: %v", err)
	}
	if again := s.Forward(fwd, "other.test"); again != fwd {
		t.Errorf("SRS address rewritten again: %s", again)
	}
	if z := s.Forward(mail.Address{}, "local.test"); !z.IsZero() {
		t.Errorf("null sender rewritten: %s", z)
	}
	long := mail.MustParse(strings.Repeat("a", 60) + "@sender.example")
	if got := s.Forward(long, "local.test"); got != long {
		t.Errorf("over-long result used: %s", got)
	}
}

// TestSRSRedirect: a copy a local mailet redirects off-site is queued with the SRS
// sender of the redirecting domain; the bounce to that address, checked at RCPT like
// any recipient, goes to the original sender; a forged one is 550 5.1.1.
func TestSRSRedirect(t *testing.T) {
	ctx := context.Background()
	s := &delivery.SRS{Secret: []byte("secret")}
	e := deliverytest.New(t, deliverytest.Options{SRS: s, Chains: chains(t, func(c *filter.Chains) {
		addRule(t, c, filter.StageLocal, "", filter.Rule{Mailet: mailet("fwd", func(_ *filter.Mail, r *filter.Recipient) {
			r.Redirect(mail.MustParse("me@elsewhere.example"), false)
		})})
	})})
	e.Domain(t, "local.test", 0, 0)
	e.Account(t, "user@local.test", "pw-user-1234", 0)
	msg := "From: alice@sender.example\r\nSubject: hi\r\n\r\nhello\r\n"
	env := &delivery.Envelope{From: mail.MustParse("alice@sender.example"), Recipients: []delivery.Recipient{{Addr: mail.MustParse("user@local.test")}}}
	res, err := e.Pipeline.Deliver(ctx, env, delivery.Bytes(msg))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatalf("deliver: %v", reply)
	}
	items := e.QueueItems(t)
	if len(items) != 1 {
		t.Fatalf("%d queue items", len(items))
	}
	from := items[0].Item.Envelope.From
	if !strings.HasPrefix(from, "SRS0=") || !strings.HasSuffix(from, "=sender.example=alice@local.test") {
		t.Fatalf("queued sender %q", from)
	}

	// The bounce comes back to the SRS address.
	srsAddr := mail.MustParse(from)
	benv := &delivery.Envelope{Recipients: []delivery.Recipient{{Addr: srsAddr}}}
	if err := e.Pipeline.CheckRecipient(ctx, benv, srsAddr); err != nil {
		t.Fatalf("RCPT of the SRS address: %v", err)
	}
	res, err = e.Pipeline.Deliver(ctx, benv, delivery.Bytes("Subject: bounce\r\n\r\nundeliverable\r\n"))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatalf("bounce: %v", reply)
	}
	var toAlice bool
	for _, it := range e.QueueItems(t) {
		for _, r := range it.Item.Recipients {
			toAlice = toAlice || r.Addr == "alice@sender.example"
		}
	}
	if !toAlice {
		t.Error("the bounce was not queued to the original sender")
	}
	forged := mail.MustParse(strings.Replace(from, "=sender.example=alice", "=victim.example=bob", 1))
	if err := e.Pipeline.CheckRecipient(ctx, benv, forged); err == nil || delivery.AsError(err).Code != 550 {
		t.Errorf("forged SRS address: %v", err)
	}
}

// FuzzSRSReverse: no input makes Reverse panic, and whatever it accepts is an address
// Forward could have made (it re-forwards to the same local part).
func FuzzSRSReverse(f *testing.F) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	s := &delivery.SRS{Secret: []byte("k"), Now: func() time.Time { return now }}
	f.Add(s.Forward(mail.MustParse("a@b.example"), "local.test").Local)
	f.Add("SRS0=abcd=aa=b.example=a")
	f.Add("srs0====")
	f.Fuzz(func(t *testing.T, local string) {
		a, err := mail.Parse(local + "@local.test")
		if err != nil {
			return
		}
		orig, err := s.Reverse(a)
		if err != nil {
			return
		}
		if again := s.Forward(orig, "local.test"); !strings.EqualFold(again.Local, a.Local) {
			t.Errorf("%s reversed to %s, which forwards as %s", a, orig, again)
		}
	})
}

// TestSRSAliasOffsite: an alias of a hosted domain that expands to a local account and
// an external address stores the local copy as it came and queues the external one
// with an SRS0 sender of the alias's domain and Delivered-To naming the alias; a
// sender of a local domain is not rewritten; the bounce to the SRS address goes back
// to the original sender with the null sender, not marked.
func TestSRSAliasOffsite(t *testing.T) {
	ctx := context.Background()
	s := &delivery.SRS{Secret: []byte("secret")}
	e := deliverytest.New(t, deliverytest.Options{SRS: s})
	e.Domain(t, "local.test", 0, 0)
	me := e.Account(t, "me@local.test", "pw-me-12345", 0)
	e.Alias(t, "fwd@local.test", "me@local.test", "out@elsewhere.example")
	msg := "From: alice@sender.example\r\nSubject: hi\r\n\r\nhello\r\n"
	env := &delivery.Envelope{From: mail.MustParse("alice@sender.example"), Recipients: []delivery.Recipient{{Addr: mail.MustParse("fwd@local.test")}}}
	if err := e.Pipeline.CheckRecipient(ctx, env, env.Recipients[0].Addr); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	res, err := e.Pipeline.Deliver(ctx, env, delivery.Bytes(msg))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatalf("deliver: %v", reply)
	}
	local := e.Messages(t, me, "")
	if len(local) != 1 || string(local[0].Body) != "Return-Path: <alice@sender.example>\r\n"+msg {
		t.Fatalf("local copy: %+v", local)
	}
	items := e.QueueItems(t)
	if len(items) != 1 {
		t.Fatalf("%d queue items", len(items))
	}
	from := items[0].Item.Envelope.From
	if !strings.HasPrefix(from, "SRS0=") || !strings.HasSuffix(from, "=sender.example=alice@local.test") {
		t.Fatalf("queued sender %q", from)
	}
	if got := string(items[0].Body); got != "Delivered-To: fwd@local.test\r\n"+msg {
		t.Errorf("queued body %q", got)
	}
	if rs := items[0].Item.Recipients; len(rs) != 1 || rs[0].Addr != "out@elsewhere.example" || rs[0].ORcpt != "rfc822;fwd@local.test" {
		t.Errorf("queued recipients %+v", rs)
	}

	// The bounce: RCPT and DATA of the SRS address, from the null sender.
	srsAddr := mail.MustParse(from)
	benv := &delivery.Envelope{Recipients: []delivery.Recipient{{Addr: srsAddr}}}
	if err := e.Pipeline.CheckRecipient(ctx, benv, srsAddr); err != nil {
		t.Fatalf("RCPT of the SRS address: %v", err)
	}
	res, err = e.Pipeline.Deliver(ctx, benv, delivery.Bytes("Subject: bounce\r\n\r\nundeliverable\r\n"))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatalf("bounce: %v", reply)
	}
	var bounce *deliverytest.QueueItem
	for _, it := range e.QueueItems(t) {
		if len(it.Recipients) == 1 && it.Recipients[0].Addr == "alice@sender.example" {
			bounce = &it
		}
	}
	if bounce == nil || bounce.Envelope.From != "" || strings.Contains(string(bounce.Body), "Delivered-To") {
		t.Fatalf("bounce not queued to the original sender as it came: %+v", bounce)
	}
	// Expired and forged SRS addresses are unknown users.
	old := &delivery.SRS{Secret: []byte("secret"), Now: func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }}
	for _, bad := range []mail.Address{
		old.Forward(mail.MustParse("alice@sender.example"), "local.test"),
		mail.MustParse(strings.Replace(from, "=alice@", "=mallory@", 1)),
	} {
		err := e.Pipeline.CheckRecipient(ctx, benv, bad)
		if err == nil || delivery.AsError(err).Code != 550 || delivery.AsError(err).Enhanced != [3]int{5, 1, 1} {
			t.Errorf("RCPT %s: %v, want 550 5.1.1", bad, err)
		}
	}

	// A sender of a hosted domain keeps its address (our SPF covers it).
	e.Account(t, "carol@local.test", "pw-carol-123", 0)
	before := len(e.QueueItems(t))
	cenv := &delivery.Envelope{From: mail.MustParse("carol@local.test"), Recipients: []delivery.Recipient{{Addr: mail.MustParse("fwd@local.test")}}}
	res, err = e.Pipeline.Deliver(ctx, cenv, delivery.Bytes(msg))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatalf("deliver: %v", reply)
	}
	items = e.QueueItems(t)
	if len(items) != before+1 {
		t.Fatalf("%d queue items, want %d", len(items), before+1)
	}
	for _, it := range items {
		if strings.HasPrefix(it.Envelope.From, "carol") && it.Envelope.From != "carol@local.test" {
			t.Errorf("local sender rewritten: %q", it.Envelope.From)
		}
	}
}

// TestSRSAliasLoop: a message that already passed the alias (Delivered-To names it),
// or carries MaxReceived Received fields, is not forwarded off-site again: an alias
// with only external targets refuses it with 554 5.4.6; one with a local target stores
// the local copy and queues nothing.
func TestSRSAliasLoop(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{SRS: &delivery.SRS{Secret: []byte("secret")}})
	e.Domain(t, "local.test", 0, 0)
	me := e.Account(t, "me@local.test", "pw-me-12345", 0)
	e.Alias(t, "out@local.test", "x@elsewhere.example")
	e.Alias(t, "both@local.test", "me@local.test", "y@elsewhere.example")
	hops := strings.Repeat("Received: from a by b; Sat, 14 Mar 2026 12:00:00 +0000\r\n", delivery.MaxReceived)
	for _, tc := range []struct{ rcpt, head string }{
		{"out@local.test", "Delivered-To: out@local.test\r\n"},
		{"out@local.test", hops},
		{"both@local.test", "Delivered-To: both@local.test\r\n"},
	} {
		env := &delivery.Envelope{From: mail.MustParse("alice@sender.example"), Recipients: []delivery.Recipient{{Addr: mail.MustParse(tc.rcpt)}}}
		res, err := e.Pipeline.Deliver(ctx, env, delivery.Bytes(tc.head+"Subject: loop\r\n\r\nround\r\n"))
		reply, _ := delivery.Outcome(res, err)
		if tc.rcpt == "out@local.test" {
			if reply == nil || reply.Code != 554 || reply.Enhanced != [3]int{5, 4, 6} {
				t.Errorf("%s with %.30q: %v, want 554 5.4.6", tc.rcpt, tc.head, reply)
			}
		} else if reply != nil {
			t.Errorf("%s: %v, want the local copy stored", tc.rcpt, reply)
		}
	}
	if n := len(e.QueueItems(t)); n != 0 {
		t.Errorf("%d queue items, want none", n)
	}
	if n := len(e.Messages(t, me, "")); n != 1 {
		t.Errorf("me has %d messages, want 1", n)
	}
	// Without the loop marks the same aliases forward.
	env := &delivery.Envelope{From: mail.MustParse("alice@sender.example"), Recipients: []delivery.Recipient{{Addr: mail.MustParse("out@local.test")}}}
	res, err := e.Pipeline.Deliver(ctx, env, delivery.Bytes("Subject: fine\r\n\r\nonce\r\n"))
	if reply, _ := delivery.Outcome(res, err); reply != nil || len(e.QueueItems(t)) != 1 {
		t.Errorf("plain forward: %v, %d queued", reply, len(e.QueueItems(t)))
	}
}
