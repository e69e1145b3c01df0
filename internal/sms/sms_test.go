package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/sms"
	"mailgrid/internal/testkit/ports"
)

// gateway is a local SMS gateway on loopback that records what it is sent and answers
// with the statuses queued in fail (then 200).
type gateway struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []recorded
	fail []int
}

type recorded struct {
	Method, Path, Query, Auth, Type string
	Body                            string
}

func newGateway(t *testing.T, fail ...int) *gateway {
	g := &gateway{fail: fail}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		g.mu.Lock()
		g.reqs = append(g.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		st := http.StatusOK
		if len(g.fail) > 0 {
			st, g.fail = g.fail[0], g.fail[1:]
		}
		g.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gateway) requests() []recorded {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]recorded(nil), g.reqs...)
}

// The default template posts JSON with the number and the text, with the configured
// Authorization; hostile text stays inside its JSON string; GET puts the template in
// the query; 4xx is permanent, 5xx temporary.
func TestGatewayRequests(t *testing.T) {
	g := newGateway(t, http.StatusBadRequest, http.StatusServiceUnavailable)
	gw, err := sms.NewGateway(sms.Config{GatewayURL: g.srv.URL + "/send", AuthHeader: "Bearer k1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	text := "quote \" brace } newline \n unicode ü"
	if err := gw.Send(ctx, sms.Message{To: "+41446681800", Text: text}); err == nil || errors.Is(err, sms.ErrTemporary) {
		t.Fatalf("400: %v, want a permanent error", err)
	}
	if err := gw.Send(ctx, sms.Message{To: "+41446681800", Text: text}); !errors.Is(err, sms.ErrTemporary) {
		t.Fatalf("503: %v, want temporary", err)
	}
	if err := gw.Send(ctx, sms.Message{To: "+41446681800", Text: text}); err != nil {
		t.Fatal(err)
	}
	r := g.requests()[2]
	var got sms.Message
	if err := json.Unmarshal([]byte(r.Body), &struct {
		To   *string `json:"to"`
		Text *string `json:"text"`
	}{&got.To, &got.Text}); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	if r.Method != "POST" || r.Path != "/send" || r.Auth != "Bearer k1" || r.Type != "application/json" ||
		got.To != "+41446681800" || got.Text != text {
		t.Fatalf("request %+v, decoded %+v", r, got)
	}

	gw, err = sms.NewGateway(sms.Config{GatewayURL: g.srv.URL + "/get?key=1", Method: "get",
		BodyTemplate: `to={{urlquery .To}}&text={{urlquery .Text}}`})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Send(ctx, sms.Message{To: "+15550100", Text: "a&b=c"}); err != nil {
		t.Fatal(err)
	}
	if r := g.requests()[3]; r.Method != "GET" || r.Query != "key=1&to=%2B15550100&text=a%26b%3Dc" || r.Body != "" {
		t.Fatalf("GET request %+v", r)
	}
	for name, c := range map[string]sms.Config{
		"scheme":   {GatewayURL: "ftp://x/"},
		"method":   {GatewayURL: "http://127.0.0.1/", Method: "DELETE"},
		"template": {GatewayURL: "http://127.0.0.1/", BodyTemplate: "{{.Nope}}"},
		"header":   {GatewayURL: "http://127.0.0.1/", AuthHeader: "a\r\nX-Evil: 1"},
	} {
		if _, err := sms.NewGateway(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if gw, err := sms.NewGateway(sms.Config{}); gw != nil || err != nil {
		t.Fatalf("no URL: %v %v, want SMS off", gw, err)
	}
}

// stack is a delivery stack whose local chain has the notification mailet, a domain on
// a plan with SMS (sms.example) and one on a plan without (nosms.example).
type stack struct {
	env  *deliverytest.Env
	svc  *sms.Service
	n    *sms.Notifier
	sent chan error
	logs *logBuffer
}

func newStack(t *testing.T, gatewayURL string, retries int) *stack {
	t.Helper()
	s := &stack{sent: make(chan error, 16), logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(s.logs, nil))
	s.env = deliverytest.New(t, deliverytest.Options{Chains: func(e *deliverytest.Env) *filter.Chains {
		gw, err := sms.NewGateway(sms.Config{GatewayURL: gatewayURL, Retries: retries, RetryDelay: time.Millisecond, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if s.svc, err = sms.New(sms.Options{Gateway: gw, Directory: e.Dir, Logger: log}); err != nil {
			t.Fatal(err)
		}
		s.n = sms.NewNotifier(s.svc, sms.NotifierOptions{Sent: func(_ directory.Account, _ sms.Message, _ int, err error) { s.sent <- err }})
		c := filter.NewChains(log)
		if err := c.Add(filter.StageLocal, "", filter.Rule{Mailet: s.n.Mailet(), Policy: filter.FailOpen}); err != nil {
			t.Fatal(err)
		}
		return c
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ctx0 := context.Background()
	for _, p := range []directory.Plan{{Name: "pro", SMS: true}, {Name: "basic"}} {
		if err := s.env.Dir.CreatePlan(ctx0, p); err != nil {
			t.Fatal(err)
		}
	}
	for d, p := range map[string]string{"sms.example": "pro", "nosms.example": "basic"} {
		s.env.Domain(t, d, 0, 0)
		if err := s.env.Dir.SetDomainPlan(ctx0, d, p); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *stack) account(t *testing.T, addr string, rule *directory.SMSRule) directory.Account {
	t.Helper()
	a := s.env.Account(t, addr, "pw", 0)
	if rule != nil {
		rule.AccountID, rule.Domain, rule.Enabled = a.ID, a.Address.Domain, true
		if err := s.env.Dir.SetSMSRule(context.Background(), *rule); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (s *stack) deliver(t *testing.T, to, from, subject string) {
	t.Helper()
	msg := "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
	res, err := s.env.Pipeline.Deliver(context.Background(), &delivery.Envelope{
		From: mail.MustParse("sender@remote.example"), Recipients: []delivery.Recipient{{Addr: mail.MustParse(to)}}}, delivery.Bytes(msg))
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %+v", err, res)
	}
}

// wait returns the outcome of the next notification, or fails after a bound.
func (s *stack) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.sent:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("no notification outcome")
		return nil
	}
}

func (s *stack) counts(t *testing.T, domain string) (notify, send int64) {
	t.Helper()
	cs, err := s.env.Dir.SMSCounts(context.Background(), domain, time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		notify += c.Notify
		send += c.Send
	}
	return notify, send
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A delivery matching the user's rule sends one SMS with sender and subject to the
// rule's number and counts it; a non-matching one and a user without a rule send none;
// a domain whose plan lacks SMS sends none and counts none.
func TestNotifyOnDelivery(t *testing.T) {
	g := newGateway(t)
	s := newStack(t, g.srv.URL, 2)
	s.account(t, "alice@sms.example", &directory.SMSRule{Phone: "+41 44 668 18 00", SubjectContains: "urgent"})
	s.account(t, "bob@sms.example", nil)
	s.account(t, "carol@nosms.example", &directory.SMSRule{Phone: "+15550100"})

	s.deliver(t, "alice@sms.example", "Boss <boss@corp.example>", "=?UTF-8?Q?URGENT=3A_caf=C3=A9?=")
	if err := s.wait(t); err != nil {
		t.Fatal(err)
	}
	reqs := g.requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].Body, `"to":"+41446681800"`) ||
		!strings.Contains(reqs[0].Body, `Mail from Boss \u003cboss@corp.example\u003e: URGENT: café`) {
		t.Fatalf("gateway saw %+v", reqs)
	}
	s.deliver(t, "alice@sms.example", "x@corp.example", "lunch?")
	s.deliver(t, "bob@sms.example", "x@corp.example", "urgent")
	s.deliver(t, "carol@nosms.example", "x@corp.example", "anything")
	if err := s.wait(t); !errors.Is(err, sms.ErrNotInPlan) {
		t.Fatalf("domain without SMS in its plan: %v", err)
	}
	if n := len(g.requests()); n != 1 {
		t.Fatalf("%d gateway requests, want 1", n)
	}
	if n, _ := s.counts(t, "sms.example"); n != 1 {
		t.Fatalf("sms.example notify count %d, want 1", n)
	}
	if n, _ := s.counts(t, "nosms.example"); n != 0 {
		t.Fatalf("nosms.example notify count %d, want 0", n)
	}
	// Every message was delivered.
	for _, a := range []string{"alice@sms.example", "bob@sms.example", "carol@nosms.example"} {
		acct, err := s.env.Dir.Account(context.Background(), mail.MustParse(a))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"alice@sms.example": 2}[a]
		if want == 0 {
			want = 1
		}
		if got := len(s.env.Messages(t, acct, "INBOX")); got != want {
			t.Errorf("%s INBOX has %d, want %d", a, got, want)
		}
	}
}

// The gateway down: delivery is unaffected, the notification is tried 1 + Retries times
// and the failure is logged; a gateway that fails twice and then answers gets it through.
func TestNotifyGatewayDown(t *testing.T) {
	down := "http://" + ports.Free(t, 1)[0] + "/send" // nothing listens there
	s := newStack(t, down, 2)
	a := s.account(t, "alice@sms.example", &directory.SMSRule{Phone: "+41446681800"})
	s.deliver(t, "alice@sms.example", "x@corp.example", "hello")
	if got := len(s.env.Messages(t, a, "INBOX")); got != 1 {
		t.Fatalf("delivered %d, want 1", got)
	}
	if err := s.wait(t); !errors.Is(err, sms.ErrTemporary) {
		t.Fatalf("outcome %v, want temporary", err)
	}
	logs := s.logs.String()
	if strings.Count(logs, "will retry") != 2 || !strings.Contains(logs, "giving up") || !strings.Contains(logs, "attempts=3") {
		t.Fatalf("log:\n%s", logs)
	}
	if n, _ := s.counts(t, "sms.example"); n != 0 {
		t.Fatalf("counted %d failed notifications", n)
	}

	g := newGateway(t, http.StatusBadGateway, http.StatusTooManyRequests)
	s2 := newStack(t, g.srv.URL, 2)
	s2.account(t, "alice@sms.example", &directory.SMSRule{Phone: "+41446681800"})
	s2.deliver(t, "alice@sms.example", "x@corp.example", "hello")
	if err := s2.wait(t); err != nil {
		t.Fatalf("third attempt: %v", err)
	}
	if n := len(g.requests()); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	if n, _ := s2.counts(t, "sms.example"); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
}

// "Send as SMS": allowed on a plan with SMS (counted as send), refused with a clear
// error on a plan without, and for a bad number or empty text nothing is sent.
func TestSend(t *testing.T) {
	g := newGateway(t)
	s := newStack(t, g.srv.URL, 0)
	a := s.account(t, "alice@sms.example", nil)
	c := s.account(t, "carol@nosms.example", nil)
	ctx := context.Background()
	if err := s.svc.Send(ctx, a, "+1 555 0100", "see you at 5"); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Send(ctx, c, "+15550100", "hi"); !errors.Is(err, sms.ErrNotInPlan) || !strings.Contains(err.Error(), "plan does not include SMS") {
		t.Fatalf("no SMS in plan: %v", err)
	}
	for _, bad := range [][2]string{{"555<script>", "x"}, {"+15550100", "  "}, {"+15550100", strings.Repeat("x", sms.MaxText+1)}} {
		if err := s.svc.Send(ctx, a, bad[0], bad[1]); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if n := len(g.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
	if _, n := s.counts(t, "sms.example"); n != 1 {
		t.Fatalf("send count %d", n)
	}
	off, err := sms.New(sms.Options{Directory: s.env.Dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := off.Send(ctx, a, "+15550100", "x"); !errors.Is(err, sms.ErrOff) {
		t.Fatalf("no gateway: %v", err)
	}
}

func TestNotificationText(t *testing.T) {
	if got := sms.NotificationText("A\r\n B", "s\x00t"); got != "Mail from A B: s t" {
		t.Fatalf("%q", got)
	}
	long := sms.NotificationText(strings.Repeat("é", 200), "")
	if len(long) > 160 || !strings.HasSuffix(long, "...") {
		t.Fatalf("%d %q", len(long), long)
	}
}

// TestSendSwitchedOff: with SMS in the plan, the "sms" service switch of the account or
// of its domain refuses sends and notifications (ErrSwitchedOff, which is also
// ErrNotInPlan for callers that explain "not available"); switching it back on allows.
func TestSendSwitchedOff(t *testing.T) {
	g := newGateway(t)
	s := newStack(t, g.srv.URL, 0)
	a := s.account(t, "alice@sms.example", nil)
	b := s.account(t, "bob@sms.example", nil)
	ctx := context.Background()
	off := []string{directory.ServiceSMS}
	a, err := s.env.Dir.UpdateAccount(ctx, a.Address, directory.AccountUpdate{DisabledServices: &off})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Send(ctx, a, "+15550100", "x"); !errors.Is(err, sms.ErrSwitchedOff) || !errors.Is(err, sms.ErrNotInPlan) {
		t.Fatalf("account switched off: %v", err)
	}
	if err := s.svc.Send(ctx, b, "+15550100", "x"); err != nil {
		t.Fatalf("another account of the domain: %v", err)
	}
	d, err := s.env.Dir.Domain(ctx, "sms.example")
	if err != nil {
		t.Fatal(err)
	}
	d.DisabledServices = off
	if err := s.env.Dir.UpdateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.AllowedFor(ctx, b); !errors.Is(err, sms.ErrSwitchedOff) {
		t.Fatalf("domain switched off: %v", err)
	}
	d.DisabledServices = nil
	if err := s.env.Dir.UpdateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.AllowedFor(ctx, b); err != nil {
		t.Fatalf("domain switched on again: %v", err)
	}
	if n := len(g.requests()); n != 1 {
		t.Fatalf("%d gateway requests, want 1 (only bob's send)", n)
	}
}
