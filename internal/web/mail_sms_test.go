package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/contacts"
	"mailgrid/internal/contacts/sqlite"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/sms"
	"mailgrid/internal/web"
)

// smsGateway records the messages a local gateway on loopback is sent.
type smsGateway struct {
	mu  sync.Mutex
	got []sms.Message
}

func (g *smsGateway) sent() []sms.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]sms.Message(nil), g.got...)
}

// smsHarness: a.example is on a plan with SMS, b.example on one without; u1@a.example
// has a contact "Dora" with a phone.
func smsHarness(t *testing.T) (*harness, *smsGateway) {
	t.Helper()
	g := &smsGateway{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m sms.Message
		b, err := io.ReadAll(r.Body)
		if err == nil {
			err = json.Unmarshal(b, &struct {
				To   *string `json:"to"`
				Text *string `json:"text"`
			}{&m.To, &m.Text})
		}
		if err != nil {
			t.Errorf("gateway: %q %v", b, err)
		}
		g.mu.Lock()
		g.got = append(g.got, m)
		g.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	db, err := sqlite.Open(t.Context(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	h := mailHarness(t, func(o *web.MailOptions, e *deliverytest.Env) {
		gw, err := sms.NewGateway(sms.Config{GatewayURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if o.SMS, err = sms.New(sms.Options{Gateway: gw, Directory: e.Dir}); err != nil {
			t.Fatal(err)
		}
		o.Contacts = db
	})
	ctx := context.Background()
	for d, p := range map[string]directory.Plan{"a.example": {Name: "pro", SMS: true}, "b.example": {Name: "basic"}} {
		if err := h.env.Dir.CreatePlan(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := h.env.Dir.SetDomainPlan(ctx, d, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	u := h.acct["u1@a.example"]
	if _, err := db.Add(ctx, contacts.Book{Domain: "a.example", Account: u.ID},
		contacts.Contact{Name: "Dora", Emails: []string{"dora@remote.example"}, Phones: []string{"+1 555 0199"}}); err != nil {
		t.Fatal(err)
	}
	return h, g
}

func smsCounts(t *testing.T, h *harness, domain string) (notify, send int64) {
	t.Helper()
	cs, err := h.env.Dir.SMSCounts(context.Background(), domain, time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		notify, send = notify+c.Notify, send+c.Send
	}
	return notify, send
}

// Send as SMS from the SMS page and from compose: to a number, to a contact by name or
// address; each counted; a bad number, a missing CSRF token and a domain whose plan
// lacks SMS are refused with a clear message and send nothing.
func TestMailSMSSend(t *testing.T) {
	h, g := smsHarness(t)
	c := h.loggedIn("u1@a.example")
	st, _, body := c.get("/mail/sms")
	if st != http.StatusOK || !strings.Contains(body, `id="sms-send"`) || !strings.Contains(body, `<option value="&#43;1 555 0199">Dora</option>`) {
		t.Fatalf("SMS page: %d %s", st, body)
	}
	hostile := "hi\r\nX-Injected: 1 \"}"
	for _, to := range []string{"+41 44 668 18 00", "Dora", "dora@remote.example"} {
		st, loc, body := c.post("/mail/sms", url.Values{"op": {"send"}, "to": {to}, "text": {hostile}})
		if st != http.StatusSeeOther || loc != "/mail/sms?done=sent" {
			t.Fatalf("send to %q: %d %s %s", to, st, loc, body)
		}
	}
	st, loc, body := c.multipartPost("/mail/sms/compose", url.Values{"to": {"Dora <dora@remote.example>"}, "subject": {"x"}, "body": {"from compose"}}, nil)
	if st != http.StatusSeeOther || loc != "/mail/sms?done=sent" {
		t.Fatalf("compose: %d %s %s", st, loc, body)
	}
	text := strings.TrimSpace(hostile)
	want := []sms.Message{{To: "+41446681800", Text: text}, {To: "+15550199", Text: text},
		{To: "+15550199", Text: text}, {To: "+15550199", Text: "from compose"}}
	got := g.sent()
	if len(got) != len(want) {
		t.Fatalf("gateway got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("SMS %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, n := smsCounts(t, h, "a.example"); n != 4 {
		t.Fatalf("send count %d, want 4", n)
	}

	for name, v := range map[string]url.Values{
		"bad number":     {"op": {"send"}, "to": {"555<script>"}, "text": {"x"}},
		"empty text":     {"op": {"send"}, "to": {"+15550100"}, "text": {"  "}},
		"no csrf":        {"op": {"send"}, "to": {"+15550100"}, "text": {"x"}, "csrf_token": {"wrong"}},
		"unknown op":     {"op": {"fax"}, "to": {"+15550100"}, "text": {"x"}},
		"unknown person": {"op": {"send"}, "to": {"Nobody"}, "text": {"x"}},
	} {
		st, _, body := c.post("/mail/sms", v)
		if st < 400 || st >= 500 {
			t.Errorf("%s: %d %s", name, st, body)
		}
	}
	if st, _, body := c.multipartPost("/mail/sms/compose", url.Values{"to": {"+15550100"}, "body": {"x"}, "csrf_token": {"wrong"}}, nil); st != http.StatusForbidden {
		t.Errorf("compose without CSRF: %d %s", st, body)
	}
	if n := len(g.sent()); n != 4 {
		t.Fatalf("refused sends reached the gateway: %d", n)
	}

	b := h.loggedIn("u1@b.example")
	st, _, body = b.post("/mail/sms", url.Values{"op": {"send"}, "to": {"+15550100"}, "text": {"x"}})
	if st != http.StatusForbidden || !strings.Contains(body, "plan does not include SMS") {
		t.Fatalf("domain without SMS: %d %s", st, body)
	}
	if _, _, body := b.get("/mail/sms"); !strings.Contains(body, `id="sms-not-in-plan"`) {
		t.Fatal("the page does not say the plan lacks SMS")
	}
	if n := len(g.sent()); n != 4 {
		t.Fatal("a domain without SMS sent one")
	}
	if _, n := smsCounts(t, h, "b.example"); n != 0 {
		t.Fatalf("b.example counted %d", n)
	}
}

// The notification rule: saved normalised, shown again, refused with a bad number or
// without SMS in the plan, removed.
func TestMailSMSNotifyRule(t *testing.T) {
	h, _ := smsHarness(t)
	c := h.loggedIn("u1@a.example")
	st, loc, body := c.post("/mail/sms", url.Values{"op": {"notify"}, "enabled": {"1"}, "phone": {"0041 44 668 18 00"},
		"from_contains": {"boss"}, "subject_contains": {""}})
	if st != http.StatusSeeOther || loc != "/mail/sms?done=saved" {
		t.Fatalf("save: %d %s %s", st, loc, body)
	}
	u := h.acct["u1@a.example"]
	r, err := h.env.Dir.SMSRule(context.Background(), u.ID)
	if err != nil || r.Phone != "+41446681800" || r.FromContains != "boss" || !r.Enabled {
		t.Fatalf("rule %+v %v", r, err)
	}
	if _, _, body := c.get("/mail/sms"); !strings.Contains(body, `value="&#43;41446681800"`) || !strings.Contains(body, `id="sms-remove"`) {
		t.Fatalf("page does not show the rule: %s", body)
	}
	st, _, body = c.post("/mail/sms", url.Values{"op": {"notify"}, "enabled": {"1"}, "phone": {"call me"}})
	if st != http.StatusUnprocessableEntity || !strings.Contains(body, "phone number") || !strings.Contains(body, `value="call me"`) {
		t.Fatalf("bad phone: %d %s", st, body)
	}
	if r2, _ := h.env.Dir.SMSRule(context.Background(), u.ID); r2 != r {
		t.Fatal("a refused rule changed the stored one")
	}
	if st, _, body := h.loggedIn("u1@b.example").post("/mail/sms", url.Values{"op": {"notify"}, "enabled": {"1"}, "phone": {"+15550100"}}); st != http.StatusForbidden {
		t.Fatalf("rule without SMS in the plan: %d %s", st, body)
	}
	if st, loc, _ := c.post("/mail/sms", url.Values{"op": {"remove"}}); st != http.StatusSeeOther || loc != "/mail/sms?done=removed" {
		t.Fatalf("remove: %d %s", st, loc)
	}
	if _, err := h.env.Dir.SMSRule(context.Background(), u.ID); err == nil {
		t.Fatal("rule still there")
	}
}

// The top bar's SMS link and compose's "Send as SMS" are shown only where SMS is
// configured and the domain's plan enables it, and follow a change of plan at once.
func TestMailSMSShown(t *testing.T) {
	shown := func(t *testing.T, c *client, want bool) {
		t.Helper()
		for path, id := range map[string]string{"/mail/search?advanced=1": `id="sms-link"`, "/mail/compose": `id="send-sms"`} {
			st, _, body := c.get(path)
			if st != http.StatusOK || strings.Contains(body, id) != want {
				t.Errorf("%s: status %d, %s shown = %v, want %v", path, st, id, !want, want)
			}
		}
	}
	h, _ := smsHarness(t)
	a, b := h.loggedIn("u1@a.example"), h.loggedIn("u1@b.example")
	shown(t, a, true)
	shown(t, b, false)
	if err := h.env.Dir.SetDomainPlan(context.Background(), "b.example", "pro"); err != nil {
		t.Fatal(err)
	}
	shown(t, b, true)

	off := mailHarness(t, nil) // no gateway: SMS off
	shown(t, off.loggedIn("u1@a.example"), false)
}
