package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

const msg = "From: a@remote.example\r\nTo: x@local.test\r\nSubject: hi\r\n\r\nbody line\r\n"

func rcpts(addrs ...string) []delivery.Recipient {
	out := make([]delivery.Recipient, len(addrs))
	for i, a := range addrs {
		out[i] = delivery.Recipient{Addr: mail.MustParse(a)}
	}
	return out
}

func wantCode(t *testing.T, err error, code int, enh [3]int) {
	t.Helper()
	var e *delivery.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want %d %v", err, code, enh)
	}
	if e.Code != code || e.Enhanced != enh {
		t.Fatalf("got %d %v (%s), want %d %v", e.Code, e.Enhanced, e.Message, code, enh)
	}
	if e.Temporary != (code/100 == 4) {
		t.Fatalf("Temporary=%v for %d", e.Temporary, code)
	}
}

func TestCheckRecipient(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 10000, 0)
	e.Domain(t, "small.test", 0, 0)
	e.Account(t, "user@local.test", "pw-user-1", 0)
	e.Account(t, "tiny@small.test", "pw-tiny-1", 1000)
	e.Account(t, "tiny2@small.test", "pw-tiny-2", 1000)
	full := e.Account(t, "full@small.test", "pw-full-1", 100)
	off := e.Account(t, "off@local.test", "pw-off-1", 0)
	disabled := false
	if _, err := e.Dir.UpdateAccount(ctx, off.Address, directory.AccountUpdate{Enabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	// fill full@ to its quota
	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{Recipients: rcpts("full@small.test")}, delivery.Bytes(strings.Repeat("x", 60)))
	if err != nil || res[0].Err != nil {
		t.Fatalf("fill: %v %v", err, res[0].Err)
	}
	smaller := int64(70) // usage is now 60 + Return-Path: the account is over its quota
	if _, err := e.Dir.UpdateAccount(ctx, full.Address, directory.AccountUpdate{QuotaBytes: &smaller}); err != nil {
		t.Fatal(err)
	}

	if res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{Recipients: rcpts("tiny2@small.test")}, delivery.Bytes(strings.Repeat("x", 200))); err != nil || res[0].Err != nil {
		t.Fatalf("fill tiny2: %v", err)
	}
	mx := &delivery.Envelope{From: mail.MustParse("a@remote.example")}
	acct := e.Account(t, "sender@local.test", "pw-sender-1", 0)
	sub := &delivery.Envelope{From: acct.Address, Account: &acct}
	cases := []struct {
		name string
		env  *delivery.Envelope
		size int64
		rcpt string
		code int
		enh  [3]int
	}{
		{"local user", mx, 0, "user@local.test", 0, [3]int{}},
		{"sub-address", mx, 0, "user+tag@local.test", 0, [3]int{}},
		{"case-insensitive", mx, 0, "USER@Local.Test", 0, [3]int{}},
		{"unknown user", mx, 0, "nobody@local.test", 550, [3]int{5, 1, 1}},
		{"disabled", mx, 0, "off@local.test", 550, [3]int{5, 2, 1}},
		{"relay denied", mx, 0, "x@remote.example", 554, [3]int{5, 7, 1}},
		{"localhost is not local", mx, 0, "root@localhost", 554, [3]int{5, 7, 1}},
		{"authenticated relay", sub, 0, "x@remote.example", 0, [3]int{}},
		{"domain size limit", mx, 10001, "user@local.test", 552, [3]int{5, 3, 4}},
		{"within domain limit", mx, 10000, "user@local.test", 0, [3]int{}},
		{"hint alone over quota", mx, 1001, "tiny@small.test", 552, [3]int{5, 2, 2}},
		{"hint within quota", mx, 1000, "tiny@small.test", 0, [3]int{}},
		{"already full", mx, 0, "full@small.test", 452, [3]int{4, 2, 2}},
		{"usage plus hint over", mx, 900, "tiny2@small.test", 452, [3]int{4, 2, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := *c.env
			env.Size = c.size
			err := e.Pipeline.CheckRecipient(ctx, &env, mail.MustParse(c.rcpt))
			if c.code == 0 {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			wantCode(t, err, c.code, c.enh)
		})
	}
}

func TestCheckSender(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 5000, 0)
	a := e.Account(t, "me@local.test", "pw-me-12", 0)
	e.Account(t, "other@local.test", "pw-other-1", 0)
	e.Alias(t, "sales@local.test", "me@local.test")
	for from, ok := range map[string]bool{"me@local.test": true, "me+x@local.test": true, "sales@local.test": true, "other@local.test": false, "boss@remote.example": false} {
		err := e.Pipeline.CheckSender(ctx, &delivery.Envelope{From: mail.MustParse(from), Account: &a})
		if ok && err != nil {
			t.Errorf("%s: %v", from, err)
		}
		if !ok {
			wantCode(t, err, 550, [3]int{5, 7, 1})
		}
	}
	if err := e.Pipeline.CheckSender(ctx, &delivery.Envelope{Account: &a}); err != nil {
		t.Errorf("null sender: %v", err)
	}
	err := e.Pipeline.CheckSender(ctx, &delivery.Envelope{From: a.Address, Account: &a, Size: 5001})
	wantCode(t, err, 552, [3]int{5, 3, 4})
}

// countingStore counts Deliver calls on the real store.
type countingStore struct {
	store.Store
	delivers atomic.Int32
}

func (c *countingStore) Deliver(ctx context.Context, d store.Delivery) ([]store.DeliveryResult, error) {
	c.delivers.Add(1)
	return c.Store.Deliver(ctx, d)
}

func TestDeliverGroupsAndRoutes(t *testing.T) {
	ctx := context.Background()
	var cs *countingStore
	e := deliverytest.New(t, deliverytest.Options{WrapStore: func(s store.Store) store.Store { cs = &countingStore{Store: s}; return cs }})
	e.Domain(t, "local.test", 0, 0)
	e.Domain(t, "other.test", 0, 0)
	sender := e.Account(t, "sender@local.test", "pw-sender-1", 0)
	a := e.Account(t, "a@local.test", "pw-a-1234", 0)
	b := e.Account(t, "b@other.test", "pw-b-1234", 0)
	c := e.Account(t, "c@local.test", "pw-c-1234", 0)
	e.Alias(t, "team@local.test", "a@local.test", "c@local.test", "friend@far.example")

	env := &delivery.Envelope{
		From:       sender.Address,
		Account:    &sender,
		Recipients: rcpts("a@local.test", "b@other.test", "team@local.test", "x@remote.example"),
	}
	res, err := e.Pipeline.Deliver(ctx, env, delivery.Bytes(msg))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || !r.Committed {
			t.Fatalf("%s: %+v", r.Rcpt.Addr, r)
		}
	}
	if n := cs.delivers.Load(); n != 1 {
		t.Errorf("store.Deliver called %d times for one shard, want 1", n)
	}
	want := "Return-Path: <sender@local.test>\r\n" + msg
	var blob string
	for _, acct := range []directory.Account{a, b, c} {
		ms := e.Messages(t, acct, "")
		if len(ms) != 1 {
			t.Fatalf("%s has %d messages, want 1 (alias copies de-duplicated)", acct.Address, len(ms))
		}
		if string(ms[0].Body) != want {
			t.Errorf("%s body = %q", acct.Address, ms[0].Body)
		}
		if blob != "" && ms[0].BlobID != blob {
			t.Errorf("copies do not share one blob")
		}
		blob = ms[0].BlobID
	}
	// Two queue items: the direct recipient's, and the alias's (it carries
	// Delivered-To against loops, srs_alias.go); the local sender is not rewritten.
	items := e.QueueItems(t)
	if len(items) != 2 {
		t.Fatalf("%d queue items, want 2", len(items))
	}
	got := map[string]string{}
	for _, it := range items {
		wantBody := msg // no Return-Path for remote copies
		if len(it.Recipients) == 1 && it.Recipients[0].Addr == "friend@far.example" {
			wantBody = "Delivered-To: team@local.test\r\n" + msg
		}
		if string(it.Body) != wantBody {
			t.Errorf("queued body = %q, want %q", it.Body, wantBody)
		}
		for _, r := range it.Recipients {
			got[r.Addr] = r.ORcpt
		}
		if it.Envelope.From != "sender@local.test" || it.Envelope.Sender != deliverytest.Ref(sender) {
			t.Errorf("queued envelope = %+v", it.Envelope)
		}
		if len(it.Recipients) == 1 && it.Recipients[0].Addr == "x@remote.example" && res[3].QueueID != it.ID {
			t.Errorf("QueueID %q, want %q", res[3].QueueID, it.ID)
		}
	}
	if len(got) != 2 || got["x@remote.example"] != "" || got["friend@far.example"] != "rfc822;team@local.test" {
		t.Errorf("queued recipients = %v", got)
	}
}

func TestDeliverEnsuresStoreAccount(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 0, 0)
	a, err := e.Dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("new@local.test"), Password: "pw-new-123"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{Recipients: rcpts("new@local.test")}, delivery.Bytes(msg))
	if err != nil || res[0].Err != nil {
		t.Fatalf("%v %v", err, res[0].Err)
	}
	if n := len(e.Messages(t, a, "")); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

func TestOverQuotaAtDataTime(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 0, 0)
	sender := e.Account(t, "sender@local.test", "pw-sender-1", 0)
	okAcct := e.Account(t, "ok@local.test", "pw-ok-1234", 0)
	full := e.Account(t, "full@local.test", "pw-full-12", 200)

	// Both pass RCPT; then full@ fills up before DATA.
	env := &delivery.Envelope{From: sender.Address, Recipients: rcpts("ok@local.test", "full@local.test"), EnvID: "env-1"}
	env.Recipients[1].ORcpt = "rfc822;full@local.test"
	for _, r := range env.Recipients {
		if err := e.Pipeline.CheckRecipient(ctx, env, r.Addr); err != nil {
			t.Fatal(err)
		}
	}
	filler := &delivery.Envelope{Recipients: rcpts("full@local.test")}
	if res, err := e.Pipeline.Deliver(ctx, filler, delivery.Bytes(strings.Repeat("y", 150))); err != nil || res[0].Err != nil {
		t.Fatalf("fill: %v", err)
	}

	res, err := e.Pipeline.Deliver(ctx, env, delivery.Bytes(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Committed || res[0].Err != nil {
		t.Fatalf("ok@: %+v", res[0])
	}
	if res[1].Committed {
		t.Fatalf("full@ committed")
	}
	wantCode(t, res[1].Err, 452, [3]int{4, 2, 2})
	reply, bounce := delivery.Outcome(res, nil)
	if reply != nil || len(bounce) != 1 {
		t.Fatalf("Outcome = %v, %d bounces; want 250 and one DSN", reply, len(bounce))
	}
	if err := e.Pipeline.Bounce(ctx, env, bounce, delivery.Bytes(msg)); err != nil {
		t.Fatal(err)
	}
	dsns := e.Messages(t, sender, "")
	if len(dsns) != 1 {
		t.Fatalf("sender has %d messages, want the DSN", len(dsns))
	}
	d := string(dsns[0].Body)
	for _, want := range []string{
		"Return-Path: <>\r\n", "Content-Type: multipart/report; report-type=delivery-status",
		"Auto-Submitted: auto-replied", "Reporting-MTA: dns; mx.test", "Original-Envelope-Id: env-1",
		"Original-Recipient: rfc822;full@local.test", "Final-Recipient: rfc822; full@local.test",
		"Action: failed", "Status: 4.2.2", "Content-Type: text/rfc822-headers",
		"Subject: hi\r\n",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("DSN lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "body line") {
		t.Errorf("DSN returned the body without RET=FULL")
	}
	if n := len(e.Messages(t, full, "")); n != 1 {
		t.Errorf("full@ has %d messages, want only the filler", n)
	}
	if n := len(e.Messages(t, okAcct, "")); n != 1 {
		t.Errorf("ok@ has %d messages, want 1", n)
	}

	// Nothing committed: the failure is the reply, no DSN.
	res, err = e.Pipeline.Deliver(ctx, &delivery.Envelope{From: sender.Address, Recipients: rcpts("full@local.test")}, delivery.Bytes(msg))
	reply, bounce = delivery.Outcome(res, err)
	wantCode(t, reply, 452, [3]int{4, 2, 2})
	if len(bounce) != 0 {
		t.Fatal("bounce with nothing committed")
	}
}

func TestBounceSuppressed(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 0, 0)
	sender := e.Account(t, "sender@local.test", "pw-sender-1", 0)
	failed := []delivery.Result{{Rcpt: delivery.Recipient{Addr: mail.MustParse("x@local.test"), Notify: []string{"NEVER"}}, Err: &delivery.Error{Code: 452, Enhanced: [3]int{4, 2, 2}}}}
	if err := e.Pipeline.Bounce(ctx, &delivery.Envelope{From: sender.Address}, failed, delivery.Bytes(msg)); err != nil {
		t.Fatal(err)
	}
	failed[0].Rcpt.Notify = nil
	if err := e.Pipeline.Bounce(ctx, &delivery.Envelope{}, failed, delivery.Bytes(msg)); err != nil { // null sender
		t.Fatal(err)
	}
	if n := e.Total(t, sender); n != 0 {
		t.Fatalf("%d DSNs, want none (NOTIFY=NEVER, null sender)", n)
	}
	// RET=FULL to a remote sender goes through the queue with the whole message.
	env := &delivery.Envelope{From: mail.MustParse("someone@remote.example"), Ret: "FULL"}
	if err := e.Pipeline.Bounce(ctx, env, failed, delivery.Bytes(msg)); err != nil {
		t.Fatal(err)
	}
	items := e.QueueItems(t)
	if len(items) != 1 || items[0].Envelope.From != "" || !bytes.Contains(items[0].Body, []byte("Content-Type: message/rfc822\r\n\r\n"+msg)) {
		t.Fatalf("queued DSN: %+v", items)
	}
}

// faultyStore fails every Deliver.
type faultyStore struct{ store.Store }

func (faultyStore) Deliver(context.Context, store.Delivery) ([]store.DeliveryResult, error) {
	return nil, errors.New("disk on fire")
}

func TestInfrastructureFaultIsTemporary(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{WrapStore: func(s store.Store) store.Store { return faultyStore{s} }})
	e.Domain(t, "local.test", 0, 0)
	e.Account(t, "a@local.test", "pw-a-1234", 0)
	res, err := e.Pipeline.Deliver(ctx, &delivery.Envelope{Recipients: rcpts("a@local.test")}, delivery.Bytes(msg))
	wantCode(t, err, 451, [3]int{4, 3, 0})
	if res[0].Committed {
		t.Fatal("committed despite fault")
	}
	reply, _ := delivery.Outcome(res, err)
	wantCode(t, reply, 451, [3]int{4, 3, 0})
	if strings.Contains(reply.Message, "fire") {
		t.Fatal("internal error text leaks into the reply")
	}
}

func TestSaveSent(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 0, 0)
	a := e.Account(t, "me@local.test", "pw-me-1234", 0)
	if err := e.Pipeline.SaveSent(ctx, a, delivery.Bytes(msg)); err != nil {
		t.Fatal(err)
	}
	ms := e.Messages(t, a, "Sent")
	if len(ms) != 1 || string(ms[0].Body) != msg || len(ms[0].Flags) != 1 || ms[0].Flags[0] != store.FlagSeen {
		t.Fatalf("Sent = %+v", ms)
	}
	if n := len(e.Messages(t, a, "")); n != 0 {
		t.Fatalf("INBOX has %d", n)
	}
}

func TestSubmitDSN(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{})
	e.Domain(t, "local.test", 0, 0)
	a := e.Account(t, "me@local.test", "pw-me-1234", 0)
	var submit queue.Submit = e.Pipeline.SubmitDSN
	if err := submit(ctx, queue.Envelope{}, "me@local.test", delivery.Bytes(msg)); err != nil {
		t.Fatal(err)
	}
	if err := submit(ctx, queue.Envelope{}, "gone@local.test", delivery.Bytes(msg)); err != nil {
		t.Fatalf("undeliverable DSN must be dropped, not failed: %v", err)
	}
	ms := e.Messages(t, a, "")
	if len(ms) != 1 || string(ms[0].Body) != "Return-Path: <>\r\n"+msg {
		t.Fatalf("DSN stored as %+v", ms)
	}
}
