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
