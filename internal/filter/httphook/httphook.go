// Package httphook runs an external filter over HTTP: mailgrid POSTs the envelope (and,
// at the DATA stage, the message) to a URL and the JSON answer decides. It is mailgrid's
// own protocol, for filters written in any language with an HTTP server.
//
// Request. At the envelope stages (connect, mail, rcpt) the body is the envelope alone,
// Content-Type application/json. At the DATA stage it is multipart/form-data with two
// parts: "envelope" (application/json, the same object) and "message" (message/rfc822,
// the message as it then reads, streamed, never buffered). The envelope object:
//
//	{"stage": "data",                  connect | mail | rcpt | data
//	 "id": "3F2A...",                  the delivery's id for logs
//	 "client_ip": "192.0.2.1", "helo": "mx.example.org",
//	 "from": "a@example.org",          "" for the null sender (and at connect)
//	 "authenticated": "u@ours.test",   the submitting account, "" from the Internet
//	 "recipients": ["x@ours.test"],    the recipients still undecided
//	 "size": 1234}                     message bytes (data only)
//
// Headers: User-Agent mailgrid, and Config.Headers (e.g. Authorization).
//
// Answer: status 200 with a JSON object (unknown fields are ignored):
//
//	{"action": "accept",              accept | reject | defer | quarantine | drop
//	 "reason": "text",                the SMTP text of reject/defer, the quarantine reason
//	 "code": 550, "enhanced": "5.7.1",   optional reply code for reject/defer
//	 "folder": "Junk",                accept: the implicit keep goes there (data only)
//	 "add_headers": [{"name": "X-Hook", "value": "checked"}],   data only
//	 "remove_headers": ["X-Unwanted"],                          data only
//	 "recipients": {"x@ours.test": {"action": "reject", "reason": "..."}}}
//
// The top-level action applies to every recipient; an entry in "recipients" overrides it
// for that recipient (same fields but the header lists). Any other status, a malformed
// answer or an unknown action is a failure, as are a refused connection and the timeout:
// the Rule's Policy applies (fail-closed 451 4.7.1, fail-open accept and tag). Health is
// a GET of the URL answering 2xx.
package httphook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/message/body"
)

// Config configures a Hook.
type Config struct {
	Name    string            // the mailet name; "" = "httphook"
	URL     string            // http:// or https://
	Timeout time.Duration     // one request; 0 = 30 s
	Headers map[string]string // sent with every request (Authorization, ...)
	// Stages the hook runs at; nil = data only. Local and remote are refused.
	Stages []filter.Stage
	// MaxAnswer bounds the answer's size; 0 = 64 KiB.
	MaxAnswer int64
	Client    *http.Client // nil = a client of its own
	// Observer, when set, is told of every request for a message: its latency and error
	// (the node's filter servers page).
	Observer filter.Observer
}

// Hook is the mailet. It is safe for concurrent use.
type Hook struct {
	cfg Config
	hc  *http.Client
}

// New checks cfg and returns the mailet.
func New(cfg Config) (*Hook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("httphook: URL %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.Name == "" {
		cfg.Name = "httphook"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxAnswer <= 0 {
		cfg.MaxAnswer = 64 << 10
	}
	if len(cfg.Stages) == 0 {
		cfg.Stages = []filter.Stage{filter.StageData}
	}
	for _, s := range cfg.Stages {
		if s == filter.StageLocal || s == filter.StageRemote {
			return nil, fmt.Errorf("httphook: stage %s is not offered (connect, mail, rcpt, data)", s)
		}
	}
	h := &Hook{cfg: cfg, hc: cfg.Client}
	if h.hc == nil {
		h.hc = &http.Client{Timeout: cfg.Timeout}
	}
	return h, nil
}

// Name implements filter.Mailet.
func (h *Hook) Name() string { return h.cfg.Name }

// Stages implements filter.Stager.
func (h *Hook) Stages() []filter.Stage { return h.cfg.Stages }

// Close implements io.Closer: idle connections are released.
func (h *Hook) Close() error {
	h.hc.CloseIdleConnections()
	return nil
}

// Health implements filter.HealthChecker: GET URL must answer 2xx.
func (h *Hook) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.URL, nil)
	if err != nil {
		return err
	}
	h.headers(req)
	resp, err := h.hc.Do(req)
	if err != nil {
		return fmt.Errorf("httphook %s: %w", h.cfg.Name, err)
	}
	drain(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("httphook %s: health: %s", h.cfg.Name, resp.Status)
	}
	return nil
}

// Envelope is the JSON object sent with every request.
type Envelope struct {
	Stage         string   `json:"stage"`
	ID            string   `json:"id"`
	ClientIP      string   `json:"client_ip"`
	HELO          string   `json:"helo"`
	From          string   `json:"from"`
	Authenticated string   `json:"authenticated"`
	Recipients    []string `json:"recipients"`
	Size          int64    `json:"size,omitempty"`
}

// Verdict is one decision of an Answer.
type Verdict struct {
	Action   string `json:"action"`
	Reason   string `json:"reason"`
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Folder   string `json:"folder"`
}

// HeaderField is one field of Answer.AddHeaders.
type HeaderField struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Answer is the JSON object the hook answers with.
type Answer struct {
	Verdict
	AddHeaders    []HeaderField      `json:"add_headers"`
	RemoveHeaders []string           `json:"remove_headers"`
	Recipients    map[string]Verdict `json:"recipients"`
}

// Service implements filter.Mailet.
func (h *Hook) Service(ctx context.Context, m *filter.Mail) error {
	start := time.Now()
	err := h.service(ctx, m)
	if h.cfg.Observer != nil {
		h.cfg.Observer.ObserveCall(time.Since(start), err)
	}
	return err
}

func (h *Hook) service(ctx context.Context, m *filter.Mail) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	env := h.envelope(m)
	var (
		req *http.Request
		err error
	)
	if m.Message == nil {
		b, jerr := json.Marshal(env)
		if jerr != nil {
			return jerr
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(b))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	} else {
		req, err = h.multipart(ctx, env, m.Message.Body())
	}
	if err != nil {
		return err
	}
	h.headers(req)
	resp, err := h.hc.Do(req)
	if err != nil {
		return fmt.Errorf("httphook %s: %w", h.cfg.Name, err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("httphook %s: answer %s", h.cfg.Name, resp.Status)
	}
	var a Answer
	dec := json.NewDecoder(io.LimitReader(resp.Body, h.cfg.MaxAnswer))
	if err := dec.Decode(&a); err != nil {
		return fmt.Errorf("httphook %s: %w: %v", h.cfg.Name, ErrAnswer, err)
	}
	return h.apply(m, &a)
}

func (h *Hook) envelope(m *filter.Mail) Envelope {
	e := m.Envelope
	env := Envelope{Stage: m.Stage.String(), ID: e.ID, HELO: e.HELO, Recipients: []string{}}
	if e.ClientIP.IsValid() {
		env.ClientIP = e.ClientIP.String()
	}
	if !e.From.IsZero() {
		env.From = e.From.String()
	}
	if e.Account != nil {
		env.Authenticated = e.Account.Address.String()
	}
	if m.Stage != filter.StageConnect && m.Stage != filter.StageMail {
		for _, r := range m.Recipients {
			if !r.Final() {
				env.Recipients = append(env.Recipients, r.Addr.String())
			}
		}
	}
	if m.Message != nil {
		env.Size = m.Message.Size()
	}
	return env
}

// multipart streams the envelope and the message as multipart/form-data.
func (h *Hook) multipart(ctx context.Context, env Envelope, msg body.Body) (*http.Request, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	go func() {
		pw.CloseWithError(writeParts(mw, env, msg)) // nil closes normally
	}()
	return req, nil
}

func writeParts(mw *multipart.Writer, env Envelope, msg body.Body) error {
	ph := textproto.MIMEHeader{}
	ph.Set("Content-Disposition", `form-data; name="envelope"`)
	ph.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(ph)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(w).Encode(env); err != nil {
		return err
	}
	ph = textproto.MIMEHeader{}
	ph.Set("Content-Disposition", `form-data; name="message"; filename="message.eml"`)
	ph.Set("Content-Type", "message/rfc822")
	if w, err = mw.CreatePart(ph); err != nil {
		return err
	}
	if _, err := io.Copy(w, body.Reader(msg)); err != nil {
		return err
	}
	return mw.Close()
}

func (h *Hook) headers(req *http.Request) {
	req.Header.Set("User-Agent", "mailgrid")
	for k, v := range h.cfg.Headers {
		req.Header.Set(k, v)
	}
}

// apply checks the whole answer first, then applies it: a bad answer changes nothing.
func (h *Hook) apply(m *filter.Mail, a *Answer) error {
	if err := checkVerdict(a.Verdict); err != nil {
		return fmt.Errorf("httphook %s: %w", h.cfg.Name, err)
	}
	for addr, v := range a.Recipients {
		if err := checkVerdict(v); err != nil {
			return fmt.Errorf("httphook %s: recipient %s: %w", h.cfg.Name, addr, err)
		}
	}
	if m.Message != nil {
		for _, name := range a.RemoveHeaders {
			if err := m.Message.RemoveHeader(name); err != nil {
				return err
			}
		}
		for _, f := range a.AddHeaders {
			if err := m.Message.AddHeader(f.Name, f.Value); err != nil {
				return fmt.Errorf("httphook %s: %w", h.cfg.Name, err)
			}
		}
	}
	for _, r := range m.Recipients {
		if r.Final() {
			continue
		}
		v := a.Verdict
		if rv, ok := a.Recipients[r.Addr.String()]; ok {
			v = rv
		} else if rv, ok := a.Recipients[r.Addr.Key()]; ok {
			v = rv
		}
		h.decide(m, r, v)
	}
	return nil
}

func checkVerdict(v Verdict) error {
	switch v.Action {
	case "", "accept", "reject", "defer", "quarantine", "drop":
	default:
		return fmt.Errorf("%w: unknown action %q", ErrAnswer, v.Action)
	}
	if v.Code != 0 && (v.Code < 400 || v.Code > 599) {
		return fmt.Errorf("%w: reply code %d", ErrAnswer, v.Code)
	}
	return nil
}

func (h *Hook) decide(m *filter.Mail, r *filter.Recipient, v Verdict) {
	switch v.Action {
	case "", "accept":
		if v.Folder != "" && m.Message != nil {
			r.KeepIn(v.Folder)
		}
	case "reject":
		r.Reject(reply(v, filter.RejectPolicy, "Message rejected by "+h.cfg.Name))
	case "defer":
		r.Defer(reply(v, filter.DeferPolicy, "Try again later"))
	case "quarantine":
		r.Quarantine(h.cfg.Name + ": " + v.Reason)
	case "drop":
		r.Drop(h.cfg.Name + ": " + v.Reason)
	}
}

// reply builds the SMTP reply of a verdict; Reject and Defer replace one of the wrong
// class with their policy reply.
func reply(v Verdict, def func(string) filter.Reply, text string) filter.Reply {
	if v.Reason != "" {
		text = v.Reason
	}
	r := def(text)
	if v.Code != 0 {
		r.Code = v.Code
		r.Enhanced = [3]int{v.Code / 100, 7, 1}
	}
	if parts := strings.Split(v.Enhanced, "."); len(parts) == 3 {
		var e [3]int
		ok := true
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			ok = ok && err == nil && n >= 0 && n < 1000
			e[i] = n
		}
		if ok && e[0] == r.Code/100 {
			r.Enhanced = e
		}
	}
	return r
}

func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10)) // lets the connection be reused
	_ = rc.Close()                                         // a response body close error has no consequence here
}

var _ io.Closer = (*Hook)(nil)

// ErrAnswer is wrapped by the failure of an answer that is not understood (malformed
// JSON, an unknown action, a reply code outside 4xx/5xx), to tell a broken hook from an
// unreachable one in logs.
var ErrAnswer = errors.New("answer not understood")
