package mailets_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/mail"
)

// TestRateLimit: through the real pipeline's MAIL and RCPT checks, an authenticated
// account gets 451 4.7.1 past its messages per hour and recipients per day, another
// account and mail from the Internet are not limited, and the window slides.
func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	rl := &mailets.RateLimit{MessagesPerHour: 2, RecipientsPerDay: 3, Now: clock}
	e := stack(t, func(_ *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageMail, filter.Rule{Mailet: rl})
		add(t, c, filter.StageRcpt, filter.Rule{Mailet: rl})
	})
	alice := e.Account(t, "alice@local.test", "pw-alice", 0)
	bob := e.Account(t, "bob@local.test", "pw-bob", 0)
	e.Account(t, "user@local.test", "pw-user", 0)
	ctx := context.Background()
	mailFrom := func(a *delivery.Envelope) error { return e.Pipeline.CheckSender(ctx, a) }
	sender := func(addr string, acctp bool) *delivery.Envelope {
		en := &delivery.Envelope{From: mail.MustParse(addr)}
		if acctp {
			a := alice
			if addr == "bob@local.test" {
				a = bob
			}
			en.Account = &a
		}
		return en
	}
	isDefer := func(err error) bool {
		de := delivery.AsError(err)
		return de != nil && de.Code == 451 && de.Enhanced == [3]int{4, 7, 1}
	}
	for i := range 2 {
		if err := mailFrom(sender("alice@local.test", true)); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	if err := mailFrom(sender("alice@local.test", true)); !isDefer(err) {
		t.Errorf("third message in the hour: %v", err)
	}
	if err := mailFrom(sender("bob@local.test", true)); err != nil {
		t.Errorf("another account: %v", err)
	}
	for range 5 {
		if err := mailFrom(sender("someone@remote.example", false)); err != nil {
			t.Errorf("mail from the Internet: %v", err)
		}
	}
	advance(61 * time.Minute)
	en := sender("alice@local.test", true)
	if err := mailFrom(en); err != nil {
		t.Errorf("after the hour: %v", err)
	}
	for i, rc := range []string{"user@local.test", "x@remote.example", "y@remote.example", "z@remote.example"} {
		err := e.Pipeline.CheckRecipient(ctx, en, mail.MustParse(rc))
		if i < 3 && err != nil {
			t.Errorf("recipient %d: %v", i+1, err)
		}
		if i == 3 && !isDefer(err) {
			t.Errorf("fourth recipient of the day: %v", err)
		}
	}
	advance(24 * time.Hour)
	if err := e.Pipeline.CheckRecipient(ctx, en, mail.MustParse("z@remote.example")); err != nil {
		t.Errorf("next day: %v", err)
	}
}
