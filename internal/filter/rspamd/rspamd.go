// Package rspamd is a client for rspamd's HTTP scanning protocol (the normal worker,
// port 11333 by default).
//
// Model. Check is one request, "POST /checkv2", whose body is the raw message and whose
// headers carry the SMTP envelope rspamd cannot see in the message: IP (the client's
// address), Helo, Hostname (the client's verified reverse DNS name), From (MAIL FROM),
// one Rcpt per recipient, Queue-Id, User (the SASL-authenticated sender), Deliver-To.
// rspamd answers with a JSON object; Result holds what a mail server acts on: the
// recommended action ("no action", "greylist", "add header", "rewrite subject",
// "soft reject", "reject"), the score and the score at which rspamd would reject
// (required_score), the symbols that fired with their scores and options, the SMTP text
// for a rejection, a rewritten subject, and the headers rspamd asks the MTA to add or
// remove (its "milter" block). Acting on the verdict (Junk, quarantine, 5xx) is the
// caller's job.
//
// The message is streamed from an io.Reader with a known Content-Length; each call is
// bounded by Config.Timeout and its context. Errors are *Error and match, with errors.Is,
//
//	ErrUnavailable  rspamd could not be reached, or the exchange failed or timed out
//	ErrProtocol     rspamd answered with an HTTP error (Status, and its "error" text)
//	                or with a body that is not a checkv2 result
//
// A local failure (the message reader failing, an envelope value with a line break) is
// neither. Any error means the message was not scored: the caller's failure policy
// applies, never "no action".
//
// Libraries: net/http and encoding/json from the standard library; the protocol needs no
// more (https://rspamd.com/doc/developers/protocol.html).
package rspamd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for a zero Config field.
const (
	DefaultTimeout = 20 * time.Second // rspamd's own task_timeout is 8 s
	maxResponse    = 4 << 20          // bytes of JSON read from a reply
)

// Config locates rspamd and bounds a call.
type Config struct {
	URL     string        // base URL of the normal worker, e.g. "http://127.0.0.1:11333"
	Timeout time.Duration // a whole call; default DefaultTimeout
	// Transport carries the requests; nil means a private http.Transport dialling with
	// the timeout (never http.DefaultTransport, which is shared process state).
	Transport http.RoundTripper
	Logger    *slog.Logger // for errors nothing else can report; default slog.Default()
	// Observer, when set, is told of every Check: its latency and error (the node's
	// filter servers page; filter.Recorder implements it).
	Observer Observer
}

// Observer is told of each Check (filter.Observer's shape; this package imports no other).
type Observer interface {
	ObserveCall(d time.Duration, err error)
}

// Client calls one rspamd. It is safe for concurrent use.
type Client struct {
	base   *url.URL
	hc     *http.Client
	logger *slog.Logger
	obs    Observer
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rspamd: URL %q: want http://host:port", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	tr := cfg.Transport
	if tr == nil {
		tr = &http.Transport{
			DialContext:         (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     30 * time.Second,
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{base: u, hc: &http.Client{Transport: tr, Timeout: cfg.Timeout}, logger: cfg.Logger, obs: cfg.Observer}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Envelope is the SMTP transaction around a message. Empty fields are not sent.
type Envelope struct {
	IP       netip.Addr // the SMTP client's address
	Helo     string     // its HELO/EHLO argument
	Hostname string     // its verified reverse DNS name ("unknown" when it has none)
	From     string     // MAIL FROM address; "<>" for the null reverse-path
	Rcpt     []string   // RCPT TO addresses
	QueueID  string     // our id for the message, for rspamd's log
	User     string     // the SASL-authenticated user (outbound mail)
	// DeliverTo is the final mailbox, when scanning per recipient (rspamd's settings
	// and per-user Bayes key on it).
	DeliverTo string
}

// headers returns the request headers for env, refusing values that would break the
// request (line breaks, NUL).
func (env *Envelope) headers() (http.Header, error) {
	h := http.Header{}
	set := func(name, v string) error {
		if v == "" {
			return nil
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("rspamd: envelope %s contains a line break or NUL", name)
		}
		h.Add(name, v)
		return nil
	}
	var ip string
	if env.IP.IsValid() {
		ip = env.IP.Unmap().String()
	}
	for _, f := range [][2]string{{"IP", ip}, {"Helo", env.Helo}, {"Hostname", env.Hostname},
		{"From", env.From}, {"Queue-Id", env.QueueID}, {"User", env.User}, {"Deliver-To", env.DeliverTo}} {
		if err := set(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	for _, r := range env.Rcpt {
		if err := set("Rcpt", r); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Check sends the message (size octets from msg; size -1 when unknown, and the body goes
// chunked) with its envelope to rspamd and returns its verdict.
func (c *Client) Check(ctx context.Context, env Envelope, msg io.Reader, size int64) (*Result, error) {
	start := time.Now()
	res, err := c.check(ctx, env, msg, size)
	if c.obs != nil {
		c.obs.ObserveCall(time.Since(start), err)
	}
	return res, err
}

func (c *Client) check(ctx context.Context, env Envelope, msg io.Reader, size int64) (*Result, error) {
	const op = "checkv2"
	hdr, err := env.headers()
	if err != nil {
		return nil, err
	}
	src := &readErr{r: msg}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint("checkv2"), src)
	if err != nil {
		return nil, fmt.Errorf("rspamd: %w", err)
	}
	req.Header = hdr
	req.ContentLength = size
	body, err := c.do(req, op)
	if src.err != nil {
		return nil, fmt.Errorf("rspamd: read message: %w", src.err)
	}
	if err != nil {
		return nil, err
	}
	res, err := parseResult(body)
	if err != nil {
		return nil, &Error{Kind: ErrProtocol, Op: op, Status: http.StatusOK, Err: err}
	}
	return res, nil
}

// Ping checks that rspamd answers ("GET /ping", reply "pong").
func (c *Client) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint("ping"), nil)
	if err != nil {
		return fmt.Errorf("rspamd: %w", err)
	}
	body, err := c.do(req, "ping")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "pong" {
		return &Error{Kind: ErrProtocol, Op: "ping", Status: http.StatusOK, Message: strings.TrimSpace(string(body))}
	}
	return nil
}

func (c *Client) endpoint(name string) string {
	return c.base.JoinPath(name).String()
}

// do sends req and returns the body of a 200 reply.
func (c *Client) do(req *http.Request, op string) ([]byte, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Kind: ErrUnavailable, Op: op, Err: err}
	}
	defer func() {
		if err := resp.Body.Close(); err != nil {
			c.logger.Warn("rspamd: close response body", "op", op, "err", err)
		}
	}()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, &Error{Kind: ErrUnavailable, Op: op, Status: resp.StatusCode, Err: err}
	}
	if len(body) > maxResponse {
		return nil, &Error{Kind: ErrProtocol, Op: op, Status: resp.StatusCode, Err: errors.New("reply too large")}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Kind: ErrProtocol, Op: op, Status: resp.StatusCode, Message: errorText(body)}
	}
	return body, nil
}

// readErr remembers a failure of the message reader, so it is reported as ours and not
// as rspamd being unavailable.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// Error is a failed call.
type Error struct {
	Kind    error  // ErrUnavailable or ErrProtocol
	Op      string // "checkv2" or "ping"
	Status  int    // HTTP status, when rspamd answered
	Message string // rspamd's error text, when it gave one
	Err     error  // the cause, or nil
}

// Error kinds, matched with errors.Is against any error this package returns.
var (
	// ErrUnavailable: rspamd could not be reached, or the exchange failed or timed out.
	ErrUnavailable = errors.New("rspamd unavailable")
	// ErrProtocol: rspamd answered, but with an error or an unreadable result.
	ErrProtocol = errors.New("rspamd protocol error")
)

func (e *Error) Error() string {
	s := "rspamd: " + e.Op + ": " + e.Kind.Error()
	if e.Status != 0 {
		s += ": HTTP " + strconv.Itoa(e.Status)
	}
	if e.Message != "" {
		s += ": " + strconv.Quote(e.Message)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
