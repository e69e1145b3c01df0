// Package sms sends text messages through the operator's SMS gateway: notifications of
// new mail matching a user's rule, and "send as SMS" from the webmail.
//
// Model:
//   - The Gateway is the operator's HTTP endpoint ([sms] in the configuration): one request
//     per message, its method, URL, Authorization header and body built from a template
//     over {To, Text}. A 2xx answer is success; 408, 429 and 5xx answers and transport
//     errors are temporary (a notification is retried); other answers are permanent.
//     Absent configuration (no gateway_url) means SMS is off.
//   - The Service decides whether an account may send: only where its domain's plan
//     enables SMS (directory.Plan.SMS; a domain on no plan has no SMS), with a clear
//     refusal (ErrNotInPlan) otherwise. Every SMS the gateway accepted is counted per
//     account and day (directory.SMSStore.CountSMS), which gives the per-domain
//     statistics.
//   - Notifications (notify.go) run at local delivery as a mailet (filter.StageLocal,
//     fail-open) that only reads the account's rule and queues a job: it never delays or
//     fails a delivery. A worker sends the queued jobs, retrying a temporary failure a
//     bounded number of times with a growing delay; a full queue or the last failure is
//     logged and the notification dropped (an SMS is best effort; the mail is delivered).
//
// Phone numbers are E.164 (directory.NormPhone), so a number never carries text into a
// gateway request; the text is encoded by the template's functions (json, urlquery).
//
// The package imports only mailgrid's core and foundation packages and the standard
// library.
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// Defaults of Config.
const (
	DefaultMethod       = "POST"
	DefaultBody         = `{"to":{{json .To}},"text":{{json .Text}}}`
	DefaultContentType  = "application/json"
	DefaultTimeout      = 10 * time.Second
	DefaultRetries      = 3
	DefaultRetryDelay   = 5 * time.Second
	MaxText             = 480 // bytes of one message's text (three concatenated SMS)
	maxGatewayAnswerLog = 200
)

// Config is the gateway's configuration ([sms]).
type Config struct {
	GatewayURL string // "" = SMS off
	Method     string // POST (default), PUT or GET
	// AuthHeader is the Authorization header's value ("Bearer ...", "Basic ..."); "" none.
	AuthHeader string
	// BodyTemplate is a text/template over {To, Text} with the functions json (a JSON
	// string) and urlquery. With GET the result is the URL's query string.
	BodyTemplate string
	ContentType  string
	Timeout      time.Duration // one request
	Retries      int           // further attempts of a notification after a temporary failure
	RetryDelay   time.Duration // before the first retry; doubled for each next one
}

// Message is what the template sees.
type Message struct {
	To   string // E.164
	Text string
}

// Gateway sends messages to the configured endpoint. It is safe for concurrent use.
type Gateway struct {
	cfg  Config
	url  *url.URL
	tmpl *template.Template
	hc   *http.Client
}

// Gateway failures: ErrTemporary is worth retrying (transport error, 408, 429, 5xx);
// ErrRefused is the gateway's final no (any other answer).
var (
	ErrTemporary = errors.New("temporary SMS gateway failure")
	ErrRefused   = errors.New("the SMS gateway refused the message")
)

// NewGateway validates cfg (defaults filled in) and returns its gateway; nil, nil when
// cfg.GatewayURL is "" (SMS off).
func NewGateway(cfg Config) (*Gateway, error) {
	if cfg.GatewayURL == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.GatewayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sms: gateway_url %q: want an http or https URL", cfg.GatewayURL)
	}
	cfg.Method = strings.ToUpper(cfg.Method)
	if cfg.Method == "" {
		cfg.Method = DefaultMethod
	}
	if cfg.Method != "POST" && cfg.Method != "PUT" && cfg.Method != "GET" {
		return nil, fmt.Errorf("sms: method %q: want POST, PUT or GET", cfg.Method)
	}
	if strings.ContainsAny(cfg.AuthHeader, "\r\n") {
		return nil, errors.New("sms: auth_header: one line")
	}
	if cfg.BodyTemplate == "" {
		cfg.BodyTemplate = DefaultBody
	}
	if cfg.ContentType == "" {
		cfg.ContentType = DefaultContentType
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	t, err := template.New("sms").Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(s string) (string, error) {
			b, err := json.Marshal(s)
			return string(b), err
		},
	}).Parse(cfg.BodyTemplate)
	if err != nil {
		return nil, fmt.Errorf("sms: body_template: %w", err)
	}
	if err := t.Execute(io.Discard, Message{To: "+10000000000", Text: "test"}); err != nil {
		return nil, fmt.Errorf("sms: body_template: %w", err)
	}
	// The gateway is the operator's: no proxy from the environment, no redirects followed
	// (a redirect could carry the Authorization header elsewhere).
	hc := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Gateway{cfg: cfg, url: u, tmpl: t, hc: hc}, nil
}

// Config returns the gateway's configuration with its defaults.
func (g *Gateway) Config() Config { return g.cfg }

// Send makes one request for m. An error wrapping ErrTemporary is worth retrying.
func (g *Gateway) Send(ctx context.Context, m Message) error {
	var body bytes.Buffer
	if err := g.tmpl.Execute(&body, m); err != nil {
		return fmt.Errorf("sms: body_template: %w", err)
	}
	u := *g.url
	var rd io.Reader
	if g.cfg.Method == "GET" {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += body.String()
	} else {
		rd = &body
	}
	req, err := http.NewRequestWithContext(ctx, g.cfg.Method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("sms: request: %w", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", g.cfg.ContentType)
	}
	if g.cfg.AuthHeader != "" {
		req.Header.Set("Authorization", g.cfg.AuthHeader)
	}
	req.Header.Set("User-Agent", "mailgrid-sms/1")
	resp, err := g.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrTemporary, err)
	}
	// The answer is only for the log: a failure to read or close it changes nothing.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	switch st := resp.StatusCode; {
	case st >= 200 && st < 300:
		return nil
	case st == http.StatusRequestTimeout || st == http.StatusTooManyRequests || st >= 500:
		return fmt.Errorf("%w: gateway answered %s %s", ErrTemporary, resp.Status, clip(answer))
	default:
		return fmt.Errorf("%w: %s %s", ErrRefused, resp.Status, clip(answer))
	}
}

// clip is a gateway answer fit for a log line.
func clip(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > maxGatewayAnswerLog {
		s = s[:maxGatewayAnswerLog] + "..."
	}
	return strings.Join(strings.Fields(s), " ")
}

// Truncate shortens text to at most n bytes on a rune boundary, marking a cut with "...".
func Truncate(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "..."
}
