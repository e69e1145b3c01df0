// Package milter runs an external filter that speaks the Sendmail/Postfix milter protocol
// (rspamd's proxy worker, clamav-milter, opendkim, ...) as a DATA-stage mailet.
//
// Model: one milter session per message, opened when the DATA-stage chain reaches the
// mailet and closed when it is done. The session replays the SMTP transaction in one go
// (the milter protocol's order): connect (client address, "[ip]" as the host name, since
// mailgrid does no reverse lookup), HELO, MAIL FROM, each RCPT TO, the header fields, the
// end of header, the body in chunks of at most 64 KiB, end of message. The milter's
// answers map to fates:
//
//	accept, continue     nothing (the message goes on)
//	reject               550 5.7.1 (the recipient at RCPT, else every recipient)
//	tempfail             451 4.7.1
//	discard              dropped (accepted and not delivered)
//	reply code           the milter's own SMTP reply: 4xx defers, 5xx rejects
//	add/insert header    Message.AddHeader (on top: our view only prepends)
//	change header        the n-th field of that name is removed, and the new value
//	                     added unless empty (removal)
//	quarantine           held in the quarantine with the milter's reason
//
// Body replacement, recipient and sender changes are not negotiated (the milter is told
// it may not use them), so a milter cannot rewrite the envelope behind the pipeline.
//
// Failures (cannot connect, a protocol error, the Rule's Timeout or Config.Timeout
// passed) are errors: the Rule's Policy applies — fail-closed defers with 451 4.7.1,
// fail-open accepts and tags X-Mailgrid-Filter-Failed. Health opens a session and
// negotiates, which is what a milter can be pinged with.
//
// Library: github.com/emersion/go-milter (client side); this package adds the deadline
// handling, the mapping to fates and the header edits.
package milter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	gomilter "github.com/emersion/go-milter"

	"mailgrid/internal/filter"
	"mailgrid/internal/message/body"
)

// Config configures a Milter.
type Config struct {
	Name     string        // the mailet name in logs and fates; "" = "milter"
	Network  string        // "tcp" or "unix"
	Address  string        // host:port or socket path
	Timeout  time.Duration // the whole session; 0 = 30 s
	Hostname string        // our host name, the "j" macro; "" = "localhost"
	// Observer, when set, is told of every session for a message: its latency and error
	// (the node's filter servers page).
	Observer filter.Observer
}

// Milter is a mailet that asks a milter. It is safe for concurrent use.
type Milter struct {
	cfg Config
}

// New checks cfg and returns the mailet. Nothing is dialled until a message comes.
func New(cfg Config) (*Milter, error) {
	if cfg.Network != "tcp" && cfg.Network != "unix" {
		return nil, fmt.Errorf("milter: network %q (want tcp or unix)", cfg.Network)
	}
	if cfg.Address == "" {
		return nil, errors.New("milter: no address")
	}
	if cfg.Name == "" {
		cfg.Name = "milter"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	return &Milter{cfg: cfg}, nil
}

// Name implements filter.Mailet.
func (f *Milter) Name() string { return f.cfg.Name }

// Stages implements filter.Stager: the milter sees the whole transaction at once.
func (f *Milter) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// actions are what the milter may do: headers and quarantine, never the body or the
// envelope.
const actions = gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine

// session opens a negotiated session bounded by ctx and the configured timeout. stop
// must be called when done; it closes the session.
func (f *Milter) session(ctx context.Context) (*gomilter.ClientSession, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	deadline, _ := ctx.Deadline()
	var (
		mu   sync.Mutex
		conn net.Conn
	)
	dial := dialFunc(func(network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		return &deadlineConn{Conn: c, deadline: deadline}, nil
	})
	// A cancelled context (the SMTP client left, the rule's timeout) closes the
	// connection, so a blocked read returns at once.
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if conn != nil {
			_ = conn.Close() // unblocks the session; its error is reported by the read
		}
	})
	// go-milter's own per-packet timeouts: the remaining time (deadlineConn clamps too).
	remain := time.Until(deadline)
	cl := gomilter.NewClientWithOptions(f.cfg.Network, f.cfg.Address, gomilter.ClientOptions{
		Dialer: dial, ReadTimeout: remain, WriteTimeout: remain, ActionMask: actions,
	})
	s, err := cl.Session()
	if err != nil {
		err = f.wrap(ctx, err) // before cancel: a timeout is told from a refusal by ctx
		stopWatch()
		cancel()
		mu.Lock()
		if conn != nil {
			_ = conn.Close() // the negotiation failed; its error is the one to report
		}
		mu.Unlock()
		return nil, nil, err
	}
	stop := func() {
		stopWatch()
		_ = s.Close() // QUIT; the verdict is in already, a failed goodbye changes nothing
		cancel()
	}
	return s, stop, nil
}

// wrap names a session error, as a timeout when the deadline passed.
func (f *Milter) wrap(ctx context.Context, err error) error {
	var ne net.Error
	// The connection's deadline is the context's: its i/o timeout may come a moment
	// before the context notices.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("milter %s: %w (%v)", f.cfg.Name, context.DeadlineExceeded, err)
	}
	return fmt.Errorf("milter %s: %w", f.cfg.Name, err)
}

// Health implements filter.HealthChecker: a session is opened and negotiated.
func (f *Milter) Health(ctx context.Context) error {
	_, stop, err := f.session(ctx)
	if err != nil {
		return err
	}
	stop()
	return nil
}

// Service implements filter.Mailet.
func (f *Milter) Service(ctx context.Context, m *filter.Mail) error {
	start := time.Now()
	err := f.service(ctx, m)
	if f.cfg.Observer != nil {
		f.cfg.Observer.ObserveCall(time.Since(start), err)
	}
	return err
}

func (f *Milter) service(ctx context.Context, m *filter.Mail) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	s, stop, err := f.session(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if err := f.converse(s, m); err != nil {
		return f.wrap(ctx, err)
	}
	return nil
}

// converse replays the transaction and applies the answers. It returns at the first
// final answer.
func (f *Milter) converse(s *gomilter.ClientSession, m *filter.Mail) error {
	env := m.Envelope
	all := activeRcpts(m)
	if err := s.Macros(gomilter.CodeConn, "j", f.cfg.Hostname, "{daemon_name}", "mailgrid"); err != nil {
		return err
	}
	act, err := connect(s, env.ClientIP)
	if done, err := f.decide(act, err, all); done || err != nil {
		return err
	}
	act, err = s.Helo(helo(env.HELO, env.ClientIP))
	if done, err := f.decide(act, err, all); done || err != nil {
		return err
	}
	var macros []string
	if env.Account != nil {
		macros = append(macros, "{auth_authen}", env.Account.Address.String(), "{auth_type}", "PLAIN")
	}
	if env.ID != "" {
		macros = append(macros, "i", env.ID)
	}
	if len(macros) > 0 {
		if err := s.Macros(gomilter.CodeMail, macros...); err != nil {
			return err
		}
	}
	from := ""
	if !env.From.IsZero() {
		from = env.From.String()
	}
	act, err = s.Mail(from, nil)
	if done, err := f.decide(act, err, all); done || err != nil {
		return err
	}
	var open []*filter.Recipient
	for _, r := range all {
		act, err := s.Rcpt(r.Addr.String(), nil)
		if err != nil {
			return err
		}
		if !f.final(act, []*filter.Recipient{r}) {
			open = append(open, r)
		}
	}
	if len(open) == 0 {
		return nil
	}
	return f.message(s, m, open)
}

// message sends the header and body and applies the end-of-message answers.
func (f *Milter) message(s *gomilter.ClientSession, m *filter.Mail, rcpts []*filter.Recipient) error {
	b := m.Message.Body()
	fields, err := body.Fields(b)
	if err != nil {
		return err
	}
	hend, err := body.HeaderEnd(b)
	if err != nil {
		return err
	}
	for _, fl := range fields {
		raw := make([]byte, fl.Span.End-fl.Span.Start)
		if _, err := b.ReadAt(raw, fl.Span.Start); err != nil && err != io.EOF {
			return err
		}
		_, v, _ := strings.Cut(string(raw), ":")
		v = strings.TrimRight(v, "\r\n")
		if !s.ProtocolOption(gomilter.OptHeaderLeadingSpace) {
			v = strings.TrimLeft(v, " \t")
		}
		act, err := s.HeaderField(fl.Name, v)
		if done, err := f.decide(act, err, rcpts); done || err != nil {
			return err
		}
	}
	act, err := s.HeaderEnd()
	if done, err := f.decide(act, err, rcpts); done || err != nil {
		return err
	}
	mods, act, err := s.BodyReadFrom(io.NewSectionReader(b, hend, b.Size()-hend))
	if err != nil {
		return err
	}
	if err := f.modify(m, mods, rcpts); err != nil {
		return err
	}
	f.final(act, rcpts)
	return nil
}

// modify applies the end-of-message modifications.
func (f *Milter) modify(m *filter.Mail, mods []gomilter.ModifyAction, rcpts []*filter.Recipient) error {
	for _, mod := range mods {
		switch mod.Code {
		case gomilter.ActAddHeader, gomilter.ActInsertHeader:
			if err := m.Message.AddHeader(mod.HeaderName, strings.TrimLeft(mod.HeaderValue, " ")); err != nil {
				return err
			}
		case gomilter.ActChangeHeader:
			if err := changeHeader(m.Message, mod.HeaderName, int(mod.HeaderIndex), mod.HeaderValue); err != nil {
				return err
			}
		case gomilter.ActQuarantine:
			for _, r := range rcpts {
				r.Quarantine(f.cfg.Name + ": " + mod.Reason)
			}
		default:
			// not negotiated: a milter that sends it anyway is broken
			return fmt.Errorf("unexpected modification %q", rune(mod.Code))
		}
	}
	return nil
}

// changeHeader removes the index-th (1-based) field named name and, for a non-empty
// value, adds the new one (RFC: Sendmail smfi_chgheader semantics).
func changeHeader(msg *filter.Message, name string, index int, value string) error {
	n := 0
	if err := msg.RemoveFields(func(fname, _ string) bool {
		if !strings.EqualFold(fname, name) {
			return false
		}
		n++
		return n == index
	}); err != nil {
		return err
	}
	if value == "" {
		return nil
	}
	return msg.AddHeader(name, strings.TrimLeft(value, " "))
}

// decide applies a non-continue answer to rcpts; done reports a final one.
func (f *Milter) decide(act *gomilter.Action, err error, rcpts []*filter.Recipient) (bool, error) {
	if err != nil {
		return true, err
	}
	return f.final(act, rcpts), nil
}

// final applies act to rcpts and reports whether it ended the conversation for them.
func (f *Milter) final(act *gomilter.Action, rcpts []*filter.Recipient) bool {
	var apply func(r *filter.Recipient)
	switch act.Code {
	case gomilter.ActContinue:
		return false
	case gomilter.ActAccept:
		return true // accepted without further checks: the message goes on
	case gomilter.ActReject:
		apply = func(r *filter.Recipient) { r.Reject(filter.RejectPolicy("Message rejected by " + f.cfg.Name)) }
	case gomilter.ActTempFail:
		apply = func(r *filter.Recipient) { r.Defer(filter.DeferPolicy("Message deferred by " + f.cfg.Name)) }
	case gomilter.ActDiscard:
		apply = func(r *filter.Recipient) { r.Drop(f.cfg.Name + ": discard") }
	case gomilter.ActReplyCode:
		reply := parseReply(act.SMTPCode, act.SMTPText)
		apply = func(r *filter.Recipient) {
			if reply.Temporary() {
				r.Defer(reply)
			} else {
				r.Reject(reply)
			}
		}
	default:
		apply = func(r *filter.Recipient) { r.Defer(filter.DeferPolicy("Message deferred by " + f.cfg.Name)) }
	}
	for _, r := range rcpts {
		apply(r)
	}
	return true
}

// parseReply turns a milter's reply code and text ("5.7.1 Spam message rejected") into
// a Reply; a missing or mismatched enhanced code gets the policy one of its class.
func parseReply(code int, text string) filter.Reply {
	r := filter.Reply{Code: code, Text: strings.TrimSpace(text)}
	class := code / 100
	if class != 4 && class != 5 {
		return filter.DeferPolicy(r.Text)
	}
	r.Enhanced = [3]int{class, 7, 1}
	first, rest, _ := strings.Cut(r.Text, " ")
	if parts := strings.Split(first, "."); len(parts) == 3 {
		var enh [3]int
		ok := true
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			ok = ok && err == nil && n >= 0 && n < 1000
			enh[i] = n
		}
		if ok && enh[0] == class {
			r.Enhanced, r.Text = enh, strings.TrimSpace(rest)
		}
	}
	return r
}

func connect(s *gomilter.ClientSession, ip netip.Addr) (*gomilter.Action, error) {
	if !ip.IsValid() {
		return s.Conn("localhost", gomilter.FamilyUnknown, 0, "")
	}
	ip = ip.Unmap()
	fam := gomilter.FamilyInet
	if ip.Is6() {
		fam = gomilter.FamilyInet6
	}
	return s.Conn("["+ip.String()+"]", fam, 0, ip.String())
}

func helo(h string, ip netip.Addr) string {
	if h != "" {
		return h
	}
	if ip.IsValid() {
		return "[" + ip.String() + "]"
	}
	return "localhost"
}

func activeRcpts(m *filter.Mail) []*filter.Recipient {
	var out []*filter.Recipient
	for _, r := range m.Recipients {
		if !r.Final() {
			out = append(out, r)
		}
	}
	return out
}

// dialFunc adapts a function to go-milter's Dialer.
type dialFunc func(network, addr string) (net.Conn, error)

func (d dialFunc) Dial(network, addr string) (net.Conn, error) { return d(network, addr) }

// deadlineConn never lets a read or write deadline pass the session's.
type deadlineConn struct {
	net.Conn
	deadline time.Time
}

func (c *deadlineConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}

func (c *deadlineConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *deadlineConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}
