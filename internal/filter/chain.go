package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Mailet inspects or changes a Mail: header edits on m.Message, a Fate for each of
// m.Recipients (all of them matched the rule and none is final). Service returns an
// error only when it could not do its job (a scanner unreachable, a store fault); the
// rule's Policy then applies to the recipients that are still not final. Decisions and
// edits made before the error stand.
//
// Service is called concurrently for different mails; a Mailet holds configuration and
// clients, never per-message state.
type Mailet interface {
	// Name is the mailet's name in logs, fates (Fate.By) and the failure tag.
	Name() string
	Service(ctx context.Context, m *Mail) error
}

// Stager is the optional add-on of a mailet that may run only at some stages (Sieve
// needs an account: StageLocal only). Chains.Add refuses other stages.
type Stager interface {
	Stages() []Stage
}

// HealthChecker is the optional add-on of a mailet with an external service: Health
// answers whether the service is reachable now (clamd PING, rspamd /ping).
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Policy is what a rule does when its mailet fails.
type Policy uint8

const (
	// FailClosed defers the recipients with 451 4.7.1 "Service unavailable - try again
	// later" (Postfix's milter_default_action=tempfail): nothing passes unchecked. The
	// zero value.
	FailClosed Policy = iota
	// FailOpen accepts, tagging the message with "X-Mailgrid-Filter-Failed: <mailet>
	// (<error|timeout>)" so users and later filters see it went unchecked.
	FailOpen
)

// ParsePolicy parses "fail-closed" or "fail-open".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "fail-closed", "tempfail":
		return FailClosed, nil
	case "fail-open", "accept":
		return FailOpen, nil
	}
	return 0, fmt.Errorf("filter: unknown failure policy %q (want fail-closed or fail-open)", s)
}

func (p Policy) String() string {
	if p == FailOpen {
		return "fail-open"
	}
	return "fail-closed"
}

// FailedHeader is the field FailOpen adds.
const FailedHeader = "X-Mailgrid-Filter-Failed"

// Rule is one step of a chain.
type Rule struct {
	Matcher Matcher // nil matches every recipient
	Mailet  Mailet
	// Timeout bounds one Service call; 0 leaves it to the mailet and the caller's
	// context. A timeout is a failure: Policy applies.
	Timeout time.Duration
	Policy  Policy
}

// Chains holds the rules of every stage: global ones, and per-domain ones that apply to
// that domain's recipients (at StageRemote: to mail from that domain). Build it with
// NewChains and Add before serving; afterwards it is read-only and safe to share.
type Chains struct {
	global map[Stage][]Rule
	domain map[Stage]map[string][]Rule
	log    *slog.Logger
}

// NewChains returns empty chains; a nil logger discards.
func NewChains(log *slog.Logger) *Chains {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Chains{global: map[Stage][]Rule{}, domain: map[Stage]map[string][]Rule{}, log: log}
}

// Add appends rules to the chain of stage, for every domain ("") or one domain.
func (c *Chains) Add(stage Stage, domain string, rules ...Rule) error {
	if _, ok := ParseStage(stage.String()); !ok {
		return fmt.Errorf("filter: unknown stage %d", stage)
	}
	for _, r := range rules {
		if r.Mailet == nil {
			return errors.New("filter: rule without a mailet")
		}
		s, ok := r.Mailet.(Stager)
		if ok && !slices.Contains(s.Stages(), stage) || !ok && stage.Envelope() {
			// an envelope stage has no message: only a mailet that says it needs none
			return fmt.Errorf("filter: mailet %s cannot run at stage %s", r.Mailet.Name(), stage)
		}
	}
	if domain != "" && stage == StageConnect {
		return fmt.Errorf("filter: no domain is known at stage %s: its rules are global", stage)
	}
	if domain == "" {
		c.global[stage] = append(c.global[stage], rules...)
		return nil
	}
	domain = strings.ToLower(domain)
	if c.domain[stage] == nil {
		c.domain[stage] = map[string][]Rule{}
	}
	c.domain[stage][domain] = append(c.domain[stage][domain], rules...)
	return nil
}

// Empty reports whether no rule runs at stage.
func (c *Chains) Empty(stage Stage) bool {
	return c == nil || len(c.global[stage]) == 0 && len(c.domain[stage]) == 0
}

// Run runs the chain of m.Stage on m: the global rules on every recipient, then each
// domain's rules on that domain's recipients, skipping recipients once final. Mailet
// failures are handled by each rule's Policy; Run returns an error only when ctx ended
// (the delivery must then not be committed).
func (c *Chains) Run(ctx context.Context, m *Mail) error {
	if c.Empty(m.Stage) {
		return nil
	}
	if m.Logger == nil {
		m.Logger = c.log
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.out == nil {
		m.out = new([]Outgoing)
	}
	if err := c.runRules(ctx, m, c.global[m.Stage], m.Recipients); err != nil {
		return err
	}
	for _, dom := range c.domainsOf(m) {
		rules := c.domain[m.Stage][dom]
		var rcpts []*Recipient
		for _, r := range m.Recipients {
			if c.scopeDomain(m, r) == dom {
				rcpts = append(rcpts, r)
			}
		}
		if err := c.runRules(ctx, m, rules, rcpts); err != nil {
			return err
		}
	}
	return nil
}

// scopeDomain is the domain whose chain applies to r: the recipient's, or at
// StageRemote and StageMail the sender's (the authenticated account's, else the
// envelope's); none at StageConnect.
func (c *Chains) scopeDomain(m *Mail, r *Recipient) string { return scope(m, r) }

func scope(m *Mail, r *Recipient) string {
	switch m.Stage {
	case StageConnect:
		return ""
	case StageRemote, StageMail:
	default:
		return r.Addr.Domain
	}
	if a := m.Envelope.Account; a != nil {
		return a.Address.Domain
	}
	return m.Envelope.From.Domain
}

// domainsOf lists the scoped domains with rules, in order of first appearance.
func (c *Chains) domainsOf(m *Mail) []string {
	var out []string
	for _, r := range m.Recipients {
		d := c.scopeDomain(m, r)
		if _, ok := c.domain[m.Stage][d]; ok && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func (c *Chains) runRules(ctx context.Context, m *Mail, rules []Rule, rcpts []*Recipient) error {
	for _, rule := range rules {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.runRule(ctx, m, rule, rcpts)
	}
	return ctx.Err()
}

// runRule runs one rule on the recipients it matches.
func (c *Chains) runRule(ctx context.Context, m *Mail, rule Rule, rcpts []*Recipient) {
	name := rule.Mailet.Name()
	var matched []*Recipient
	for _, r := range rcpts {
		if r.Final() {
			continue
		}
		ok := true
		if rule.Matcher != nil {
			var err error
			if ok, err = rule.Matcher.Match(ctx, m, r); err != nil {
				c.fail(m, rule, []*Recipient{r}, fmt.Errorf("matcher: %w", err))
				continue
			}
		}
		if ok {
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		return
	}
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if rule.Timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, rule.Timeout)
	}
	err := rule.Mailet.Service(sctx, m.view(matched))
	if err == nil && sctx.Err() != nil && ctx.Err() == nil {
		err = sctx.Err() // a mailet that ignored its deadline still failed it
	}
	cancel()
	for _, r := range matched {
		if r.Final() && r.Fate.By == "" {
			r.Fate.By = name
			m.Logger.Info("filter decision", "stage", m.Stage.String(), "mailet", name, "rcpt", r.Addr.String(),
				"fate", r.Fate.Kind.String(), "reason", r.Fate.Reason, "reply", r.Fate.Reply.Text, "id", m.Envelope.ID)
		}
	}
	if err != nil && ctx.Err() == nil {
		c.fail(m, rule, matched, err)
	}
}

// fail applies rule's Policy after its mailet (or matcher) failed for rcpts.
func (c *Chains) fail(m *Mail, rule Rule, rcpts []*Recipient, err error) {
	name := rule.Mailet.Name()
	m.Logger.Warn("filter failed", "stage", m.Stage.String(), "mailet", name, "policy", rule.Policy.String(),
		"err", err, "id", m.Envelope.ID)
	if rule.Policy == FailOpen && m.Message == nil {
		return // an envelope stage: nothing to tag, the command is accepted
	}
	if rule.Policy == FailOpen {
		what := "error"
		if errors.Is(err, context.DeadlineExceeded) {
			what = "timeout"
		}
		tag := name + " (" + what + ")"
		if err := m.Message.AddHeader(FailedHeader, tag); err != nil {
			m.Logger.Error("filter: tag message", "err", err) // a mailet name that is no header value
		}
		return
	}
	for _, r := range rcpts {
		if !r.Final() {
			r.Defer(errFilterUnavailable())
			r.Fate.By = name
		}
	}
}

// Health checks every mailet with a HealthChecker once and returns their failures,
// keyed by mailet name.
func (c *Chains) Health(ctx context.Context) map[string]error {
	out := map[string]error{}
	c.each(func(mt Mailet) {
		if h, ok := mt.(HealthChecker); ok {
			if _, done := out[mt.Name()]; !done {
				out[mt.Name()] = h.Health(ctx)
			}
		}
	})
	for k, v := range out {
		if v == nil {
			delete(out, k)
		}
	}
	return out
}

// Close closes every mailet that is an io.Closer (once each).
func (c *Chains) Close() error {
	var errs []error
	seen := map[Mailet]bool{}
	c.each(func(mt Mailet) {
		if cl, ok := mt.(io.Closer); ok && (!reflect.TypeOf(mt).Comparable() || !seen[mt]) {
			if reflect.TypeOf(mt).Comparable() {
				seen[mt] = true // one mailet in several rules is closed once
			}
			errs = append(errs, cl.Close())
		}
	})
	return errors.Join(errs...)
}

func (c *Chains) each(fn func(Mailet)) {
	for _, rules := range c.global {
		for _, r := range rules {
			fn(r.Mailet)
		}
	}
	for _, doms := range c.domain {
		for _, rules := range doms {
			for _, r := range rules {
				fn(r.Mailet)
			}
		}
	}
}
