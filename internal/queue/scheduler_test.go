package queue_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/queue"
	"mailgrid/internal/smtpclient/smtptest"
)

var sender = queue.Envelope{From: "a@sender.test"}

func reject(code int, enh smtp.EnhancedCode, text string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}

// TestDeliver: a queued message reaches the remote server over STARTTLS and leaves the
// queue; no DSN.
func TestDeliver(t *testing.T) {
	h := newHarness(t, smtptest.Options{TLS: true})
	h.start()
	id := h.enqueue(sender, rcpt("b@dest.test"), rcpt("c@other.test"))
	h.waitGone(id)
	got := h.sink.Delivered()
	if len(got) != 2 {
		t.Fatalf("sink got %d messages, want one per domain", len(got))
	}
	for _, m := range got {
		if !m.TLS || m.From != "a@sender.test" || m.Helo != ourHost || string(m.Data) != msg {
			t.Errorf("sink message %+v", m)
		}
	}
	if d := h.DSNs(); len(d) != 0 {
		t.Errorf("DSNs sent for a delivered message: %d", len(d))
	}
}

// TestRetryBackoff: 4xx defers with exponential backoff (5m, then 10m); then success.
func TestRetryBackoff(t *testing.T) {
	h := newHarness(t, smtptest.Options{})
	var tries atomic.Int32
	h.sink.OnRcpt(func(_, _ string) error {
		if tries.Add(1) <= 2 {
			return reject(451, smtp.EnhancedCode{4, 3, 0}, "try again later")
		}
		return nil
	})
	h.start()
	t0 := h.clock.Now()
	id := h.enqueue(sender, rcpt("b@dest.test"))
	it, _ := h.waitRound(id, 1)
	r := it.Recipients[0]
	if r.State != queue.StateQueued || r.LastReply.Code != 451 || r.LastReply.Enhanced != "4.3.0" || r.RemoteMTA != "mx1.dest.test" {
		t.Fatalf("after a 451: %+v", r)
	}
	if !it.NextAttempt.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("next attempt %v, want first retry after 5m (%v)", it.NextAttempt, t0.Add(5*time.Minute))
	}
	t1 := t0.Add(5 * time.Minute)
	h.advanceTo(t1)
	it, _ = h.waitRound(id, 2)
	if !it.NextAttempt.Equal(t1.Add(10 * time.Minute)) {
		t.Fatalf("next attempt %v, want doubled backoff 10m (%v)", it.NextAttempt, t1.Add(10*time.Minute))
	}
	h.advanceTo(t1.Add(10 * time.Minute))
	h.waitGone(id)
	if n := len(h.sink.Delivered()); n != 1 {
		t.Errorf("delivered %d times", n)
	}
	if d := h.DSNs(); len(d) != 0 {
		t.Errorf("%d DSNs", len(d))
	}
}

// TestBounce: a 5xx fails the recipient at once and sends one DSN to the envelope sender
// with the RFC 3464 fields; the accepted recipient of the same transaction is delivered.
func TestBounce(t *testing.T) {
	h := newHarness(t, smtptest.Options{})
	h.sink.OnRcpt(func(_, to string) error {
		if strings.HasPrefix(to, "unknown@") {
			return reject(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		}
		return nil
	})
	h.start()
	env := queue.Envelope{From: "a@sender.test", EnvID: "ENV-7"}
	bad := queue.Recipient{Addr: "unknown@dest.test", ORcpt: "rfc822;alias@dest.test"}
	id := h.enqueue(env, rcpt("ok@dest.test"), bad)
	h.waitGone(id)
	if n := len(h.sink.Delivered()); n != 1 {
		t.Fatalf("sink delivered %d", n)
	}
	dsns := h.DSNs()
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	d := parseDSN(t, dsns[0])
	if d.env.From != "" || d.rcpt != "a@sender.test" {
		t.Errorf("DSN envelope from %q to %q, want <> to the sender", d.env.From, d.rcpt)
	}
	if !strings.Contains(d.header.Get("From"), "MAILER-DAEMON@"+ourHost) || d.header.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("DSN header From %q Auto-Submitted %q", d.header.Get("From"), d.header.Get("Auto-Submitted"))
	}
	want := map[string]string{"Reporting-MTA": "dns; " + ourHost, "Original-Envelope-Id": "ENV-7"}
	checkFields(t, "per-message", d.perMessage, want)
	if len(d.recipients) != 1 {
		t.Fatalf("%d recipient blocks, want only the failed one", len(d.recipients))
	}
	checkFields(t, "recipient", d.recipients[0], map[string]string{
		"Final-Recipient":    "rfc822; unknown@dest.test",
		"Original-Recipient": "rfc822; alias@dest.test",
		"Action":             "failed",
		"Status":             "5.1.1",
		"Remote-MTA":         "dns; mx1.dest.test",
		"Diagnostic-Code":    "smtp; 550 5.1.1 no such user",
	})
	if d.originalType != "message/rfc822" || d.original != msg {
		t.Errorf("returned %s %q, want the whole original", d.originalType, d.original)
	}
}

// TestExpiryAndDelayWarning: a recipient that only ever gets 4xx gets one delay
// warning after 4h and, after 5 days, a failure DSN; the item then leaves the queue.
func TestExpiryAndDelayWarning(t *testing.T) {
	h := newHarness(t, smtptest.Options{})
	h.sink.OnRcpt(func(_, _ string) error { return reject(452, smtp.EnhancedCode{4, 2, 2}, "mailbox full") })
	h.start()
	queued := h.clock.Now()
	id := h.enqueue(sender, rcpt("b@dest.test"))
	rounds := 0
	for n := 1; n <= 100; n++ {
		it, ok := h.waitRound(id, n)
		if !ok {
			break
		}
		rounds = n
		h.advanceTo(it.NextAttempt)
	}
	h.waitGone(id)
	if rounds < 10 || rounds == 100 {
		t.Fatalf("%d rounds", rounds)
	}
	dsns := h.DSNs()
	if len(dsns) != 2 {
		t.Fatalf("%d DSNs, want a delay warning and a failure", len(dsns))
	}
	delay, fail := parseDSN(t, dsns[0]), parseDSN(t, dsns[1])
	checkFields(t, "delay", delay.recipients[0], map[string]string{
		"Final-Recipient": "rfc822; b@dest.test", "Action": "delayed", "Status": "4.2.2",
		"Will-Retry-Until": queued.Add(queue.DefaultLifetime).Format(time.RFC1123Z),
	})
	if delay.originalType != "text/rfc822-headers" || !strings.Contains(delay.original, "Subject: hello") || strings.Contains(delay.original, "body") {
		t.Errorf("delay DSN returned %s %q, want the headers only", delay.originalType, delay.original)
	}
	if !strings.HasPrefix(delay.header.Get("Subject"), "Delayed Mail") {
		t.Errorf("delay subject %q", delay.header.Get("Subject"))
	}
	checkFields(t, "expiry", fail.recipients[0], map[string]string{
		"Action": "failed", "Status": "4.2.2", "Diagnostic-Code": "smtp; 452 4.2.2 mailbox full",
	})
	if last := h.clock.Now(); last.Sub(queued) < queue.DefaultLifetime || last.Sub(queued) > queue.DefaultLifetime+time.Minute {
		t.Errorf("expired at %v after enqueue, want at the 5 day lifetime", last.Sub(queued))
	}
}

// TestNoDSN: NOTIFY=NEVER and the null sender never get a DSN; a default recipient in
// the same run does (the control).
func TestNoDSN(t *testing.T) {
	h := newHarness(t, smtptest.Options{})
	h.sink.OnRcpt(func(_, _ string) error { return reject(550, smtp.EnhancedCode{5, 1, 1}, "no such user") })
	h.start()
	never := h.enqueue(sender, rcpt("x@dest.test", "NEVER"))
	null := h.enqueue(queue.Envelope{From: ""}, rcpt("y@dest.test"))
	control := h.enqueue(queue.Envelope{From: "control@sender.test"}, rcpt("z@dest.test"))
	for _, id := range []string{never, null, control} {
		h.waitGone(id)
	}
	dsns := h.DSNs()
	if len(dsns) != 1 || dsns[0].rcpt != "control@sender.test" {
		t.Fatalf("DSNs to %v, want only the control", dsnRcpts(dsns))
	}
}

// TestSuccessNotify: NOTIFY=SUCCESS to a next hop without DSN support gets a "relayed"
// DSN (RFC 3461 5.2.2); to one with DSN support, none (the next hop reports).
func TestSuccessNotify(t *testing.T) {
	for _, dsnExt := range []bool{false, true} {
		t.Run(fmt.Sprintf("nexthopDSN=%v", dsnExt), func(t *testing.T) {
			h := newHarness(t, smtptest.Options{DSN: dsnExt})
			h.start()
			h.waitGone(h.enqueue(sender, rcpt("b@dest.test", "SUCCESS")))
			dsns := h.DSNs()
			if dsnExt {
				if len(dsns) != 0 {
					t.Fatalf("%d DSNs, want none", len(dsns))
				}
				return
			}
			if len(dsns) != 1 {
				t.Fatalf("%d DSNs, want 1", len(dsns))
			}
			checkFields(t, "relayed", parseDSN(t, dsns[0]).recipients[0], map[string]string{"Action": "relayed", "Status": "2.0.0"})
		})
	}
}

func dsnRcpts(d []submitted) []string {
	var out []string
	for _, s := range d {
		out = append(out, s.rcpt)
	}
	return out
}

// TestCrashRedelivery: a crash while one domain's transaction is in flight (the queue
// closed under the scheduler, nothing reported for it) redelivers only that recipient
// after a restart; the recipient already reported is not sent again.
func TestCrashRedelivery(t *testing.T) {
	h := newHarness(t, smtptest.Options{}, func(o *queue.SchedulerOptions) { o.StopTimeout = 10 * time.Millisecond })
	hold := make(chan struct{})
	var held atomic.Bool
	h.sink.OnData(func(m *smtptest.Message) error {
		if m.Rcpts[0] == "b@other.test" && held.CompareAndSwap(false, true) {
			<-hold // the first transaction for other.test hangs
		}
		return nil
	})
	defer close(hold)
	h.start()
	id := h.enqueue(sender, rcpt("a@dest.test"), rcpt("b@other.test"))
	h.waitFor("a delivered and reported, b in flight", func() bool {
		it, err := h.q.Get(t.Context(), id)
		return err == nil && it.Recipients[0].State == queue.StateDelivered && held.Load()
	})
	if err := h.q.Close(); err != nil { // the crash: nothing more reaches the queue
		t.Fatal(err)
	}
	h.stop()

	h.q = h.openQueue()
	h.start() // same node name: Recover frees the dead run's lease at once
	h.waitGone(id)
	count := map[string]int{}
	for _, m := range h.sink.Delivered() {
		for _, r := range m.Rcpts {
			count[r]++
		}
	}
	if count["a@dest.test"] != 1 || count["b@other.test"] != 1 {
		t.Fatalf("deliveries per recipient %v, want each exactly once", count)
	}
}

// TestConcurrencyLimits: concurrent transactions at the remote never exceed the
// per-destination limit, nor the global limit across destinations; both are reached.
func TestConcurrencyLimits(t *testing.T) {
	cases := []struct {
		name              string
		perDomain, global int
		domains           []string
	}{
		{"per-domain", 2, 10, []string{"dest.test"}},
		{"global", 10, 3, []string{"d1.test", "d2.test", "d3.test", "d4.test", "d5.test", "d6.test"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, smtptest.Options{}, func(o *queue.SchedulerOptions) {
				o.PerDomain, o.Concurrency = tc.perDomain, tc.global
			})
			for _, d := range tc.domains {
				h.dns.SetMX(d, "mx1."+d, 10)
				h.dns.SetA("mx1."+d, "127.0.0.1")
			}
			const total = 12
			limit := min(tc.perDomain*len(tc.domains), tc.global)
			var entered atomic.Int32
			h.sink.OnData(func(*smtptest.Message) error {
				// Hold each transaction until the limit is reached or the last one has
				// started (failsafe bounded), so the test sees whether more than the
				// limit can run at once.
				entered.Add(1)
				for i := 0; i < 400 && h.sink.Active() < limit && entered.Load() < total; i++ {
					time.Sleep(5 * time.Millisecond)
				}
				return nil
			})
			var ids []string
			for i := range total {
				ids = append(ids, h.enqueue(sender, rcpt(fmt.Sprintf("u%d@%s", i, tc.domains[i%len(tc.domains)]))))
			}
			h.start()
			for _, id := range ids {
				h.waitGone(id)
			}
			if got := h.sink.MaxConcurrent(); got != limit {
				t.Fatalf("max concurrent transactions %d, want %d", got, limit)
			}
		})
	}
}

// TestGracefulStop: cancelling Run lets an in-flight delivery finish and be recorded.
func TestGracefulStop(t *testing.T) {
	h := newHarness(t, smtptest.Options{})
	inData := make(chan struct{})
	release := make(chan struct{})
	h.sink.OnData(func(*smtptest.Message) error {
		close(inData)
		<-release
		return nil
	})
	h.start()
	id := h.enqueue(sender, rcpt("b@dest.test"))
	<-inData
	h.cancel() // stop while the transaction waits for its DATA reply
	close(release)
	h.stop()
	if _, err := h.q.Get(context.Background(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("after a graceful stop the in-flight item is %v, want delivered and removed", err)
	}
}

// TestRecipientChunks: recipients of one domain beyond MaxRecipients go in further
// transactions of the same round.
func TestRecipientChunks(t *testing.T) {
	h := newHarness(t, smtptest.Options{}, func(o *queue.SchedulerOptions) { o.MaxRecipients = 2 })
	h.start()
	id := h.enqueue(sender, rcpt("r1@dest.test"), rcpt("r2@dest.test"), rcpt("r3@dest.test"), rcpt("r4@dest.test"), rcpt("r5@dest.test"))
	h.waitGone(id)
	got := h.sink.Delivered()
	seen := map[string]int{}
	for _, m := range got {
		if len(m.Rcpts) > 2 {
			t.Errorf("transaction with %d recipients", len(m.Rcpts))
		}
		for _, r := range m.Rcpts {
			seen[r]++
		}
	}
	if len(got) != 3 || len(seen) != 5 {
		t.Fatalf("%d transactions for %v, want 3 covering 5 recipients once", len(got), seen)
	}
}

// TestBounceForms: RET=HDRS returns headers only; an SMTPUTF8 message gets the RFC 6533
// report types, a utf-8 Final-Recipient and an SMTPUTF8 envelope.
func TestBounceForms(t *testing.T) {
	h := newHarness(t, smtptest.Options{SMTPUTF8: true})
	h.sink.OnRcpt(func(_, _ string) error { return reject(550, smtp.EnhancedCode{5, 1, 1}, "no such user") })
	h.start()
	h.waitGone(h.enqueue(queue.Envelope{From: "a@sender.test", Ret: "HDRS"}, rcpt("x@dest.test")))
	h.waitGone(h.enqueue(queue.Envelope{From: "ä@sender.test", SMTPUTF8: true}, rcpt("ü@dest.test")))
	dsns := h.DSNs()
	if len(dsns) != 2 {
		t.Fatalf("%d DSNs", len(dsns))
	}
	hdrs, utf := parseDSN(t, dsns[0]), parseDSN(t, dsns[1])
	if hdrs.statusType != "message/delivery-status" || hdrs.originalType != "text/rfc822-headers" || strings.Contains(hdrs.original, "body") {
		t.Errorf("RET=HDRS: %s, %s %q", hdrs.statusType, hdrs.originalType, hdrs.original)
	}
	if !utf.env.SMTPUTF8 || utf.rcpt != "ä@sender.test" || utf.statusType != "message/global-delivery-status" || utf.originalType != "message/global" {
		t.Errorf("SMTPUTF8 DSN: env %+v to %q, %s, %s", utf.env, utf.rcpt, utf.statusType, utf.originalType)
	}
	checkFields(t, "utf-8", utf.recipients[0], map[string]string{"Final-Recipient": "utf-8; ü@dest.test", "Action": "failed"})
}
