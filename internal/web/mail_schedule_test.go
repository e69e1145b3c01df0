package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/mailets"
	"mailgrid/internal/schedule"
	schedpg "mailgrid/internal/schedule/postgres"
	schedsqlite "mailgrid/internal/schedule/sqlite"
	"mailgrid/internal/store"
	"mailgrid/internal/testkit/pgtest"
	"mailgrid/internal/web"
)

// Scheduled send against the real pipeline and the SQLite schedule store: what compose
// schedules is sent by a schedule.Runner through Server.SendScheduled, with the same
// result as "Send" (delivered, Sent copy, Bcc hidden).

func scheduleHarness(t *testing.T) (*harness, schedule.Store) {
	t.Helper()
	st, err := schedsqlite.Open(t.Context(), schedsqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	h := mailHarness(t, func(o *web.MailOptions, e *deliverytest.Env) { o.Schedule = st; o.FilterState = e.Filter })
	return h, st
}

// runDue runs one runner pass at now over st.
func runDue(t *testing.T, h *harness, st schedule.Store, now time.Time) int {
	t.Helper()
	r := schedule.NewRunner(st, h.srv.SendScheduled, schedule.RunnerOptions{Now: func() time.Time { return now }})
	n, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMailScheduleSend(t *testing.T) {
	h, st := scheduleHarness(t)
	c := h.loggedIn("u1@a.example")
	at := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	form := url.Values{"op": {"schedule"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "bcc": {"da@a.example"},
		"subject": {"Later"}, "body": {"sent later\n"}, "send_at": {at.Format("2006-01-02T15:04:05")}}
	st1, loc, body := c.multipartPost("/mail/compose", form, nil)
	if st1 != http.StatusSeeOther || loc != "/mail/scheduled?done=scheduled" {
		t.Fatalf("schedule: %d %s %s", st1, loc, body)
	}
	_, _, page := c.get("/mail/scheduled")
	if !strings.Contains(page, "Later") || !strings.Contains(page, at.Format("2006-01-02 15:04:05 UTC")) || !strings.Contains(page, "pending") {
		t.Fatalf("scheduled page:\n%s", page)
	}
	// Another account sees none of it.
	if _, _, other := h.loggedIn("u2@a.example").get("/mail/scheduled"); !strings.Contains(other, "No scheduled messages") {
		t.Fatalf("u2's scheduled page shows u1's item")
	}
	if n := runDue(t, h, st, at.Add(-time.Minute)); n != 0 || len(h.env.Messages(t, h.acct["u2@a.example"], "INBOX")) != 0 {
		t.Fatalf("sent before its time (%d leased)", n)
	}
	if n := runDue(t, h, st, at); n != 1 {
		t.Fatalf("at its time: %d leased, want 1", n)
	}
	got := h.env.Messages(t, h.acct["u2@a.example"], "INBOX")
	if len(got) != 1 {
		t.Fatalf("u2 has %d messages, want 1", len(got))
	}
	raw := string(got[0].Body)
	for _, want := range []string{"Received: from [127.0.0.1] by mx.test with HTTP", "Subject: Later", "Date: " + at.Format("Mon, 2 Jan 2006 15:04:05 -0700")} {
		if !strings.Contains(raw, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "da@a.example") {
		t.Error("the Bcc shows in the delivered message")
	}
	if len(h.env.Messages(t, h.acct["da@a.example"], "INBOX")) != 1 || len(h.env.Messages(t, h.acct["u1@a.example"], "Sent")) != 1 {
		t.Error("Bcc recipient or Sent copy missing")
	}
	if n := runDue(t, h, st, at.Add(time.Hour)); n != 0 || len(h.env.Messages(t, h.acct["u2@a.example"], "INBOX")) != 1 {
		t.Fatal("sent twice")
	}
	if _, _, page := c.get("/mail/scheduled"); !strings.Contains(page, "No scheduled messages") {
		t.Fatal("a sent message is still listed")
	}
}

var scheduledID = regexp.MustCompile(`data-scheduled-id="(\d+)"`)

func TestMailScheduleCancelEditRefuse(t *testing.T) {
	h, st := scheduleHarness(t)
	c := h.loggedIn("u1@a.example")
	at := time.Now().UTC().Add(time.Hour)
	schedule1 := func(subject string) string {
		t.Helper()
		form := url.Values{"op": {"schedule"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "bcc": {"da@a.example"},
			"subject": {subject}, "body": {"text of " + subject}, "send_at": {at.Format("2006-01-02T15:04")}}
		if code, _, body := c.multipartPost("/mail/compose", form, nil); code != http.StatusSeeOther {
			t.Fatalf("schedule %s: %d %s", subject, code, body)
		}
		_, _, page := c.get("/mail/scheduled")
		ids := scheduledID.FindAllStringSubmatch(page, -1)
		return ids[len(ids)-1][1]
	}
	// Cancel: never sent; another account cannot cancel it.
	id := schedule1("Cancelled")
	if code, _, _ := h.loggedIn("u2@a.example").post("/mail/scheduled", url.Values{"op": {"cancel"}, "id": {id}}); code != http.StatusNotFound {
		t.Fatalf("u2 cancelling u1's item: %d, want 404", code)
	}
	if code, loc, body := c.post("/mail/scheduled", url.Values{"op": {"cancel"}, "id": {id}}); code != http.StatusSeeOther || !strings.HasSuffix(loc, "done=cancelled") {
		t.Fatalf("cancel: %d %s %s", code, loc, body)
	}
	if n := runDue(t, h, st, at.Add(time.Hour)); n != 0 || len(h.env.Messages(t, h.acct["u2@a.example"], "INBOX")) != 0 {
		t.Fatal("a cancelled message was sent")
	}
	// Edit: off the schedule, into Drafts with its Bcc, opened in compose.
	id = schedule1("Edited")
	code, loc, body := c.post("/mail/scheduled", url.Values{"op": {"edit"}, "id": {id}})
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/mail/compose?draft=") {
		t.Fatalf("edit: %d %s %s", code, loc, body)
	}
	_, _, form := c.get(loc)
	if !strings.Contains(form, `value="Edited"`) || !strings.Contains(form, `value="da@a.example"`) || !strings.Contains(form, "text of Edited") {
		t.Fatalf("the draft of an edited item:\n%s", form)
	}
	if list, err := st.List(context.Background(), schedule.Owner{Domain: "a.example", Account: h.acct["u1@a.example"].ID}); err != nil || len(list) != 0 {
		t.Fatalf("after edit: %d items %v", len(list), err)
	}
	// Bad input changes nothing.
	for _, bad := range []url.Values{
		{"send_at": {"tomorrow"}},
		{"send_at": {time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")}},
		{"send_at": {at.Format("2006-01-02T15:04")}, "subject": {"x\r\nBcc: evil@example.com"}},
		{"send_at": {at.Format("2006-01-02T15:04")}, "from": {"boss@a.example"}},
	} {
		form := url.Values{"op": {"schedule"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"bad"}, "body": {"x"}}
		for k, v := range bad {
			form[k] = v
		}
		if code, _, body := c.multipartPost("/mail/compose", form, nil); code < 400 || code >= 500 {
			t.Fatalf("bad schedule %v: %d, want a 4xx refusal\n%s", bad, code, body)
		}
	}
	if _, _, page := c.get("/mail/scheduled"); !strings.Contains(page, "No scheduled messages") {
		t.Fatal("a refused form was scheduled")
	}
	// A recipient refused when it falls due: failed with the reason, shown on the page.
	doomed := url.Values{"op": {"schedule"}, "from": {"u1@a.example"}, "to": {"nobody@a.example"}, "subject": {"Doomed"}, "body": {"x"},
		"send_at": {at.Format("2006-01-02T15:04")}}
	if code, _, body := c.multipartPost("/mail/compose", doomed, nil); code != http.StatusSeeOther {
		t.Fatalf("schedule to an unknown user: %d %s", code, body)
	}
	runDue(t, h, st, at.Add(time.Minute))
	if _, _, page := c.get("/mail/scheduled"); !strings.Contains(page, "Not sent:") || !strings.Contains(page, "nobody@a.example") {
		t.Fatalf("a refused send is not shown as failed:\n%s", page)
	}
}

func TestMailSignatures(t *testing.T) {
	h, _ := scheduleHarness(t)
	c := h.loggedIn("u1@a.example")
	save := func(v url.Values) {
		t.Helper()
		if code, loc, body := c.post("/mail/signatures", v); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/mail/signatures?done=") {
			t.Fatalf("post %v: %d %s\n%s", v, code, loc, body)
		}
	}
	save(url.Values{"op": {"save"}, "name": {"Work"}, "text": {"Ann Example\r\nExample Corp\r\n\r\n"}})
	save(url.Values{"op": {"save"}, "name": {"Info desk"}, "text": {"-- \nThe info desk"}})
	_, _, page := c.get("/mail/signatures")
	ids := regexp.MustCompile(`data-signature-id="(\d+)"`).FindAllStringSubmatch(page, -1)
	if len(ids) != 2 || !strings.Contains(page, "Example Corp") {
		t.Fatalf("signatures page:\n%s", page)
	}
	work, info := ids[0][1], ids[1][1]
	save(url.Values{"op": {"defaults"}, "identity": {"u1@a.example", "info@a.example"}, "default": {work, info}})

	// A new message: the default of From, after the separator.
	_, _, form := c.get("/mail/compose")
	if !strings.Contains(form, "\n-- \nAnn Example\nExample Corp</textarea>") || !strings.Contains(form, `data-sig="The info desk"`) {
		t.Fatalf("compose without the signature:\n%s", form)
	}
	// A reply: the signature above the quote.
	h.deliver("u1@a.example", fmt.Sprintf(textMail, "Question", "q1", "Ann"))
	in := h.box("u1@a.example", store.Inbox)
	m := h.msgs("u1@a.example", in)[0]
	_, _, form = c.get(fmt.Sprintf("/mail/compose?reply=%d/%d", in.ID, m.UID))
	sig, quote := strings.Index(form, "-- \nAnn Example"), strings.Index(form, "&gt; this is the text.")
	if sig < 0 || quote < 0 || sig > quote || !strings.Contains(form, `data-quote-head="On `) {
		t.Fatalf("reply: signature at %d, quote at %d\n%s", sig, quote, form)
	}
	// Edit, refuse bad input, delete (its default goes with it).
	save(url.Values{"op": {"save"}, "id": {work}, "name": {"Work"}, "text": {"Ann, Example Corp"}})
	for _, bad := range []url.Values{
		{"op": {"save"}, "name": {""}, "text": {"x"}},
		{"op": {"save"}, "name": {"x\r\ny"}, "text": {"x"}},
		{"op": {"save"}, "name": {"bell"}, "text": {"ring\x07"}},
		{"op": {"defaults"}, "identity": {"boss@a.example"}, "default": {work}},
	} {
		if code, _, _ := c.post("/mail/signatures", bad); code < 400 || code >= 500 {
			t.Fatalf("bad form %v: %d, want 4xx", bad, code)
		}
	}
	save(url.Values{"op": {"delete"}, "id": {info}})
	_, _, form = c.get("/mail/compose?to=x@example.com")
	if !strings.Contains(form, "-- \nAnn, Example Corp</textarea>") || strings.Contains(form, "info desk") {
		t.Fatalf("after edit and delete:\n%s", form)
	}
	// Another account has none.
	if _, _, f2 := h.loggedIn("u2@a.example").get("/mail/compose"); strings.Contains(f2, "-- \n") {
		t.Fatal("u2's compose has u1's signature")
	}
}

// TestMailScheduleTwoNodesPostgres: two web servers (nodes) over one PostgreSQL schedule
// and one directory and store: node 1 schedules, leases the item and hangs mid-send (as
// if killed); when its lease has run out node 2 sends the message, once.
func TestMailScheduleTwoNodesPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	open := func() schedule.Store {
		st, err := schedpg.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		})
		return st
	}
	pg1, pg2 := open(), open()
	var opt web.Options
	h := newHarness(t, func(o *web.Options) { opt = *o })
	opt.Mail = web.MailOptions{Pipeline: h.env.Pipeline, Schedule: pg1}
	srv1, err := web.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.base = srv1, serve(t, srv1)
	opt.Mail.Schedule = pg2
	srv2, err := web.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	c := h.loggedIn("u1@a.example")
	at := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	form := url.Values{"op": {"schedule"}, "from": {"u1@a.example"}, "to": {"u2@b.example"}, "subject": {"Across nodes"},
		"body": {"x"}, "send_at": {at.Format("2006-01-02T15:04:05")}}
	if code, _, body := c.multipartPost("/mail/compose", form, nil); code != http.StatusSeeOther {
		t.Fatalf("schedule on node 1: %d %s", code, body)
	}
	inSend, release := make(chan struct{}), make(chan struct{})
	hung := func(ctx context.Context, it schedule.Item) error {
		close(inSend)
		<-release
		return fmt.Errorf("node 1 died")
	}
	r1 := schedule.NewRunner(pg1, hung, schedule.RunnerOptions{Now: func() time.Time { return at }, LeaseFor: time.Minute})
	done := make(chan error, 1)
	go func() {
		_, err := r1.RunOnce(context.Background())
		done <- err
	}()
	<-inSend
	r2 := schedule.NewRunner(pg2, srv2.SendScheduled, schedule.RunnerOptions{Now: func() time.Time { return at.Add(30 * time.Second) }})
	if n, err := r2.RunOnce(t.Context()); err != nil || n != 0 {
		t.Fatalf("node 2 while node 1's lease holds: %d %v", n, err)
	}
	r2 = schedule.NewRunner(pg2, srv2.SendScheduled, schedule.RunnerOptions{Now: func() time.Time { return at.Add(2 * time.Minute) }})
	if n, err := r2.RunOnce(t.Context()); err != nil || n != 1 {
		t.Fatalf("node 2 after the lease: %d %v", n, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := h.env.Messages(t, h.acct["u2@b.example"], "INBOX"); len(got) != 1 || !strings.Contains(string(got[0].Body), "Subject: Across nodes") {
		t.Fatalf("u2@b.example has %d messages, want the one", len(got))
	}
	if _, _, page := c.get("/mail/scheduled"); !strings.Contains(page, "No scheduled messages") {
		t.Fatalf("still listed after node 2 sent it:\n%s", page)
	}
}

// TestMailScheduleRateLimited: a scheduled send meets the account's rate limit (the
// pipeline's RateLimit mailet, as "Send" does) when it falls due: it is kept and retried
// later, not failed and not sent.
func TestMailScheduleRateLimited(t *testing.T) {
	e := deliverytest.New(t, deliverytest.Options{Chains: func(*deliverytest.Env) *filter.Chains {
		c := filter.NewChains(nil)
		rl := filter.Rule{Mailet: &mailets.RateLimit{MessagesPerHour: 1}}
		for _, st := range []filter.Stage{filter.StageMail, filter.StageRcpt} {
			if err := c.Add(st, "", rl); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}})
	h := &harness{t: t, env: e, acct: map[string]directory.Account{}}
	e.Domain(t, "a.example", 0, 0)
	h.add(context.Background(), "u1@a.example", directory.RoleUser)
	h.add(context.Background(), "u2@a.example", directory.RoleUser)
	h.svc = &admin.Service{Dir: e.Dir, Shards: e.Shards}
	st, err := schedsqlite.Open(t.Context(), schedsqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	srv, err := web.New(web.Options{Admin: h.svc, Hostname: "mx.test", LoginPerIP: web.Limit{Burst: 1000, Every: time.Millisecond},
		Mail: web.MailOptions{Pipeline: e.Pipeline, Schedule: st}})
	if err != nil {
		t.Fatal(err)
	}
	h.srv, h.base = srv, serve(t, srv)
	c := h.loggedIn("u1@a.example")
	at := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	form := url.Values{"op": {"schedule"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"Limited"}, "body": {"x"},
		"send_at": {at.Format("2006-01-02T15:04:05")}}
	if code, _, body := c.multipartPost("/mail/compose", form, nil); code != http.StatusSeeOther {
		t.Fatalf("schedule: %d %s", code, body)
	}
	now := url.Values{"op": {"send"}, "from": {"u1@a.example"}, "to": {"u2@a.example"}, "subject": {"Now"}, "body": {"x"}}
	if code, loc, body := c.multipartPost("/mail/compose", now, nil); code != http.StatusSeeOther || !strings.Contains(loc, "done=sent") {
		t.Fatalf("send now (the hour's one message): %d %s %s", code, loc, body)
	}
	runDue(t, h, st, at)
	if got := h.env.Messages(t, h.acct["u2@a.example"], "INBOX"); len(got) != 1 {
		t.Fatalf("u2 has %d messages, want only the one sent now", len(got))
	}
	list, err := st.List(context.Background(), schedule.Owner{Domain: "a.example", Account: h.acct["u1@a.example"].ID})
	if err != nil || len(list) != 1 {
		t.Fatalf("after the limit: %d items %v", len(list), err)
	}
	if it := list[0]; it.State != schedule.Pending || !it.Due.After(at) || !strings.Contains(it.LastError, "Rate limit") {
		t.Fatalf("rate-limited item: %+v; want pending, due later, the rate limit as the reason", it)
	}
	if _, _, page := c.get("/mail/scheduled"); !strings.Contains(page, "retrying") {
		t.Fatalf("the page does not say it is retrying:\n%s", page)
	}
}
