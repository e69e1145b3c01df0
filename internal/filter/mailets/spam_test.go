package mailets_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/filter/filtertest"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/store"
)

func TestRspamdGTUBE(t *testing.T) {
	rs := filtertest.StartRspamd(t)
	e := stack(t, func(e *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageData, filter.Rule{Mailet: &mailets.Rspamd{Client: rs.Client(t, 20*time.Second)}, Policy: filter.FailOpen})
		add(t, c, filter.StageLocal, filter.Rule{Mailet: &mailets.Bayes{Settings: e.Filter, Tokens: e.Filter}})
	})
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	reply, _ := deliver(t, e, envTo("x@remote.example", "a@local.test"),
		"From: x@remote.example\r\nTo: a@local.test\r\nSubject: buy\r\n\r\nBuy now!\r\n"+filtertest.GTUBE+"\r\n")
	wantReply(t, reply, 550, [3]int{5, 7, 1})
	if n := e.Total(t, a); n != 0 {
		t.Fatal("GTUBE delivered")
	}
	forged := "X-Spam-Flag: YES\r\nX-Spam-Status: Yes, forged\r\nFrom: x@remote.example\r\nTo: a@local.test\r\n" +
		"Subject: lunch\r\nMessage-ID: <1@remote.example>\r\nDate: Mon, 05 Jan 2026 10:00:00 +0000\r\n\r\nSee you at noon.\r\n"
	if reply, _ := deliver(t, e, envTo("x@remote.example", "a@local.test"), forged); reply != nil {
		t.Fatal(reply)
	}
	got := headerOf(only(t, e, a, ""))
	if !strings.Contains(got, "X-Spam-Status: No, score=") || strings.Contains(got, "forged") || strings.Contains(got, "X-Spam-Flag") {
		t.Fatalf("ham header (forged spam fields must be gone, rspamd's verdict recorded):\n%s", got)
	}
}

// corpus generates n messages of one class from its own vocabulary, with a shared
// vocabulary mixed in so the classes overlap.
func corpus(rng *rand.Rand, n int, words []string) []string {
	shared := strings.Fields("the a and to of in for on with is it you this that we are be at")
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range 40 {
			if rng.IntN(3) == 0 {
				b.WriteString(shared[rng.IntN(len(shared))])
			} else {
				b.WriteString(words[rng.IntN(len(words))])
			}
			b.WriteByte(' ')
		}
		out[i] = fmt.Sprintf("From: p%d@remote.example\r\nSubject: %s\r\n\r\n%s\r\n", i, words[rng.IntN(len(words))], b.String())
	}
	return out
}

func TestBayesFilesSpamInJunkPerAccountLevel(t *testing.T) {
	ctx := context.Background()
	e := stack(t, func(e *deliverytest.Env, c *filter.Chains) {
		add(t, c, filter.StageLocal, filter.Rule{Mailet: &mailets.Bayes{Settings: e.Filter, Tokens: e.Filter}})
	})
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	off := e.Account(t, "off@local.test", "pw-off-1234", 0)
	rng := rand.New(rand.NewPCG(1, 2))
	spamWords := strings.Fields("viagra casino winner prize lottery cheap pills bitcoin offer discount click unsubscribe million claim")
	hamWords := strings.Fields("meeting agenda project report review schedule budget team deadline notes lunch minutes draft")
	spam, ham := corpus(rng, 30, spamWords), corpus(rng, 30, hamWords)
	for _, acct := range []store.AccountRef{deliverytest.Ref(a), deliverytest.Ref(off)} {
		cl := bayes.New(e.Filter.Tokens(acct), bayes.Options{})
		for i := range 25 {
			must(t, cl.Train(ctx, delivery.Bytes(spam[i]), bayes.Spam))
			must(t, cl.Train(ctx, delivery.Bytes(ham[i]), bayes.Ham))
		}
	}
	lvl := bayes.LevelOff
	must(t, e.Filter.SetSpamLevel(ctx, deliverytest.Ref(off), &lvl))

	if reply, _ := deliver(t, e, envTo("p@remote.example", "a@local.test", "off@local.test"), spam[27]); reply != nil {
		t.Fatal(reply)
	}
	if reply, _ := deliver(t, e, envTo("p@remote.example", "a@local.test"), ham[27]); reply != nil {
		t.Fatal(reply)
	}
	junk := only(t, e, a, "Junk")
	if !strings.Contains(junk, "X-Mailgrid-Bayes: spam, prob=") || !strings.Contains(junk, "level=medium") {
		t.Fatalf("spam in Junk:\n%s", headerOf(junk))
	}
	if inbox := only(t, e, a, ""); !strings.Contains(inbox, "X-Mailgrid-Bayes: ham, prob=") {
		t.Fatalf("ham in INBOX:\n%s", headerOf(inbox))
	}
	if got := only(t, e, off, ""); !strings.Contains(got, "X-Mailgrid-Bayes: off\r\n") {
		t.Fatalf("level off keeps spam in INBOX:\n%s", headerOf(got))
	}
	// Two accounts, two headers: each copy was stored from its own view.
	if e.Messages(t, off, "")[0].BlobID == e.Messages(t, a, "Junk")[0].BlobID {
		t.Fatal("per-account headers share one blob")
	}
}
