package httphook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/httphook"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

// The counterpart is a net/http server written here: the protocol is ours, so a server
// following docs/mailets.md is the real other side.

type seen struct {
	mu      sync.Mutex
	env     []httphook.Envelope
	message []string
	ctype   []string
	auth    []string
}

func (s *seen) last() (httphook.Envelope, string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.env) - 1
	return s.env[n], s.message[n], s.ctype[n]
}

// hookServer decodes each request as the documented protocol and answers with answer(env, message).
func hookServer(t *testing.T, answer func(httphook.Envelope, string) (int, string)) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var env httphook.Envelope
		var msg string
		ct := r.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/form-data") {
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := json.Unmarshal([]byte(r.FormValue("envelope")), &env); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f, _, err := r.FormFile("message")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			b, err := io.ReadAll(f)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			msg = string(b)
		} else if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.env, s.message, s.ctype = append(s.env, env), append(s.message, msg), append(s.ctype, ct)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		code, text := answer(env, msg)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func newMail(stage filter.Stage, msg string, rcpts ...string) *filter.Mail {
	var rs []*filter.Recipient
	for _, a := range rcpts {
		addr := mail.MustParse(a)
		rs = append(rs, &filter.Recipient{Addr: addr, Orig: addr})
	}
	env := &filter.Envelope{From: mail.MustParse("sender@remote.example"), ClientIP: netip.MustParseAddr("192.0.2.7"),
		HELO: "client.example", ID: "ID1"}
	var m *filter.Message
	if msg != "" {
		m = filter.NewMessage(body.Bytes(msg))
	}
	return filter.NewMail(stage, env, m, rs)
}

func run(t *testing.T, h *httphook.Hook, p filter.Policy, m *filter.Mail) {
	t.Helper()
	c := filter.NewChains(nil)
	if err := c.Add(m.Stage, "", filter.Rule{Mailet: h, Policy: p}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Run(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestDataStage(t *testing.T) {
	srv, s := hookServer(t, func(env httphook.Envelope, msg string) (int, string) {
		switch {
		case strings.Contains(msg, "Subject: buy"):
			return 200, `{"action":"reject","reason":"No sales","code":554,"enhanced":"5.7.1"}`
		case strings.Contains(msg, "Subject: mixed"):
			return 200, `{"action":"accept","folder":"Junk","add_headers":[{"name":"X-Hook","value":"checked"}],` +
				`"remove_headers":["X-Old"],"recipients":{"b@local.test":{"action":"defer","reason":"later"}},"extra":1}`
		}
		return 200, `{"action":"accept"}`
	})
	h, err := httphook.New(httphook.Config{Name: "hook", URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer k"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Health(t.Context()); err != nil {
		t.Fatalf("health: %v", err)
	}

	msg := "Subject: buy\r\nX-Old: 1\r\n\r\nbuy now\r\n"
	m := newMail(filter.StageData, msg, "a@local.test")
	run(t, h, filter.FailClosed, m)
	if f := m.Recipients[0].Fate; f.Kind != filter.Reject || f.Reply.String() != "554 5.7.1 No sales" || f.By != "hook" {
		t.Errorf("reject: %+v", f)
	}
	env, got, ct := s.last()
	if got != msg || !strings.HasPrefix(ct, "multipart/form-data") {
		t.Errorf("message %q as %q", got, ct)
	}
	want := httphook.Envelope{Stage: "data", ID: "ID1", ClientIP: "192.0.2.7", HELO: "client.example", From: "sender@remote.example",
		Recipients: []string{"a@local.test"}, Size: int64(len(msg))}
	if env.Stage != want.Stage || env.ID != want.ID || env.ClientIP != want.ClientIP || env.HELO != want.HELO ||
		env.From != want.From || strings.Join(env.Recipients, ",") != "a@local.test" || env.Size != want.Size {
		t.Errorf("envelope %+v, want %+v", env, want)
	}
	if s.auth[0] != "Bearer k" {
		t.Errorf("Authorization %q", s.auth[0])
	}

	m = newMail(filter.StageData, "Subject: mixed\r\nX-Old: 1\r\n\r\nhello\r\n", "a@local.test", "b@local.test")
	run(t, h, filter.FailClosed, m)
	a, b := m.Recipients[0].Fate, m.Recipients[1].Fate
	if a.Kind != filter.Deliver || a.Keep.Mailbox != "Junk" {
		t.Errorf("a: %+v", a)
	}
	if b.Kind != filter.Defer || b.Reply.Code != 451 || b.Reply.Text != "later" {
		t.Errorf("b: %+v", b)
	}
	out, err := io.ReadAll(body.Reader(m.Message.Body()))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "X-Hook: checked\r\nSubject: mixed\r\n\r\nhello\r\n" {
		t.Errorf("edited message %q", out)
	}
}

func TestEnvelopeStage(t *testing.T) {
	srv, s := hookServer(t, func(env httphook.Envelope, _ string) (int, string) {
		if len(env.Recipients) == 1 && env.Recipients[0] == "nobody@local.test" {
			return 200, `{"action":"reject","reason":"No such person here"}`
		}
		return 200, `{}`
	})
	h, err := httphook.New(httphook.Config{URL: srv.URL, Stages: []filter.Stage{filter.StageRcpt}})
	if err != nil {
		t.Fatal(err)
	}
	m := newMail(filter.StageRcpt, "", "nobody@local.test")
	run(t, h, filter.FailClosed, m)
	if f := m.Recipients[0].Fate; f.Kind != filter.Reject || f.Reply.String() != "550 5.7.1 No such person here" {
		t.Errorf("rcpt: %+v", f)
	}
	if env, msg, ct := s.last(); ct != "application/json" || msg != "" || env.Stage != "rcpt" || env.Size != 0 {
		t.Errorf("request %+v %q %q", env, msg, ct)
	}
	m = newMail(filter.StageRcpt, "", "someone@local.test")
	run(t, h, filter.FailClosed, m)
	if f := m.Recipients[0].Fate; f.Kind != filter.Deliver {
		t.Errorf("accepted rcpt: %+v", f)
	}
	if _, err := httphook.New(httphook.Config{URL: srv.URL, Stages: []filter.Stage{filter.StageLocal}}); err == nil {
		t.Error("local stage accepted")
	}
}

// TestFailures: a 500, a malformed answer, an unknown action and a hook slower than
// the timeout are failures; the Policy decides.
func TestFailures(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	srv, _ := hookServer(t, func(_ httphook.Envelope, msg string) (int, string) {
		switch {
		case strings.Contains(msg, "Subject: 500"):
			return 500, `oops`
		case strings.Contains(msg, "Subject: garbage"):
			return 200, `{"action":`
		case strings.Contains(msg, "Subject: unknown"):
			return 200, `{"action":"explode"}`
		case strings.Contains(msg, "Subject: slow"):
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
		}
		return 200, `{"action":"accept"}`
	})
	t.Cleanup(free) // runs before the server's Close (LIFO): slow handlers return first
	h, err := httphook.New(httphook.Config{Name: "hook", URL: srv.URL, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"500", "garbage", "unknown", "slow"} {
		msg := "Subject: " + subj + "\r\n\r\nx\r\n"
		m := newMail(filter.StageData, msg, "a@local.test")
		run(t, h, filter.FailClosed, m)
		if f := m.Recipients[0].Fate; f.Kind != filter.Defer || f.Reply.Code != 451 {
			t.Errorf("%s fail-closed: %+v", subj, f)
		}
		m = newMail(filter.StageData, msg, "a@local.test")
		run(t, h, filter.FailOpen, m)
		tag, err := m.Message.Header(filter.FailedHeader)
		what := "error"
		if subj == "slow" {
			what = "timeout"
		}
		if err != nil || len(tag) != 1 || tag[0] != "hook ("+what+")" || m.Recipients[0].Final() {
			t.Errorf("%s fail-open: tag %q %v fate %+v", subj, tag, err, m.Recipients[0].Fate)
		}
	}
	free()
	srv.Close()
	if err := h.Health(t.Context()); err == nil {
		t.Error("health of a closed server passed")
	}
}
