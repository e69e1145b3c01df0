package mailets

import (
	"context"
	"fmt"
	"mime"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"mailgrid/internal/filter"
)

// DomainRules applies the filter rules of filter.DomainRules at the DATA stage: first
// the system's rules (domain "") to every recipient, then each recipient domain's own
// rules to its recipients, each set in Position order; disabled rules are skipped. A
// rule whose conditions hold (all, or any with MatchAny) acts on the recipients it was
// evaluated for:
//
//	reject      550 5.7.1 with the rule's text (the reply to DATA when every recipient
//	            is refused)
//	quarantine  held for review, reason "domain rule NAME"
//	fileinto    the implicit keep goes to the named mailbox (the user's Sieve still
//	            runs and may file more copies)
//	addheader   a header field on the message (for every recipient: the DATA-stage
//	            message is one)
//	drop        accepted and discarded
//
// The rules run before users' Sieve scripts (the local stage). A rule set that cannot be
// read is a failure: the rule's Policy applies.
type DomainRules struct {
	Rules filter.DomainRules
	// CacheFor keeps each rule set read for this long; 0 reads at every message.
	// Changes then apply within CacheFor.
	CacheFor time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedRules
}

type cachedRules struct {
	rules []filter.DomainRule
	at    time.Time
}

// read returns a domain's rule set, from the cache when fresh.
func (d *DomainRules) read(ctx context.Context, domain string) ([]filter.DomainRule, error) {
	if d.CacheFor <= 0 {
		return d.Rules.DomainRules(ctx, domain)
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	t := now()
	d.mu.Lock()
	c, ok := d.cache[domain]
	d.mu.Unlock()
	if ok && t.Sub(c.at) < d.CacheFor {
		return c.rules, nil
	}
	rules, err := d.Rules.DomainRules(ctx, domain)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.cache == nil || len(d.cache) > 10000 {
		d.cache = map[string]cachedRules{}
	}
	d.cache[domain] = cachedRules{rules: rules, at: t}
	d.mu.Unlock()
	return rules, nil
}

// Name implements filter.Mailet.
func (d *DomainRules) Name() string { return "domain-rules" }

// Stages implements filter.Stager.
func (d *DomainRules) Stages() []filter.Stage { return []filter.Stage{filter.StageData} }

// Service implements filter.Mailet.
func (d *DomainRules) Service(ctx context.Context, m *filter.Mail) error {
	if m.Envelope.Internal {
		return nil
	}
	sets := map[string][]filter.DomainRule{}
	load := func(domain string) ([]filter.DomainRule, error) {
		if rs, ok := sets[domain]; ok {
			return rs, nil
		}
		rs, err := d.read(ctx, domain)
		sets[domain] = rs
		return rs, err
	}
	ev := &ruleEval{m: m}
	added := map[int64]bool{}
	for _, r := range active(m) {
		for _, domain := range []string{"", r.Addr.Domain} {
			rules, err := load(domain)
			if err != nil {
				return err
			}
			for _, rule := range rules {
				if r.Final() {
					break
				}
				if !rule.Enabled {
					continue
				}
				ok, err := ev.holds(rule, r)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				m.Logger.Info("domain rule matched", "rule", rule.Name, "id", rule.ID, "domain", listName(domain),
					"action", string(rule.Action), "rcpt", r.Addr.String())
				if err := applyRule(m, r, rule, added); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func applyRule(m *filter.Mail, r *filter.Recipient, rule filter.DomainRule, added map[int64]bool) error {
	switch rule.Action {
	case filter.ActionReject:
		text := rule.Arg
		if text == "" {
			text = "Message refused by domain policy"
		}
		r.Reject(filter.RejectPolicy(text))
	case filter.ActionQuarantine:
		reason := "domain rule " + rule.Name
		if rule.Arg != "" {
			reason += ": " + rule.Arg
		}
		r.Quarantine(reason)
	case filter.ActionDrop:
		r.Drop("domain rule " + rule.Name)
	case filter.ActionFileInto:
		r.KeepIn(rule.Arg)
	case filter.ActionAddHeader:
		if added[rule.ID] {
			return nil
		}
		added[rule.ID] = true
		name, value, _ := strings.Cut(rule.Arg, ":")
		return m.Message.AddHeader(strings.TrimSpace(name), strings.TrimSpace(value))
	default:
		return fmt.Errorf("domain rule %d: unknown action %q", rule.ID, rule.Action)
	}
	return nil
}

// ruleEval evaluates conditions on one Mail, reading each header field once.
type ruleEval struct {
	m      *filter.Mail
	fields map[string][]string
}

func (e *ruleEval) header(name string) ([]string, error) {
	key := strings.ToLower(name)
	if v, ok := e.fields[key]; ok {
		return v, nil
	}
	v, err := e.m.Message.Header(name)
	if err != nil {
		return nil, err
	}
	if e.fields == nil {
		e.fields = map[string][]string{}
	}
	e.fields[key] = v
	return v, nil
}

func (e *ruleEval) holds(rule filter.DomainRule, r *filter.Recipient) (bool, error) {
	for _, c := range rule.Conditions {
		ok, err := e.test(c, r)
		if err != nil {
			return false, err
		}
		if c.Not {
			ok = !ok
		}
		if ok && rule.MatchAny {
			return true, nil
		}
		if !ok && !rule.MatchAny {
			return false, nil
		}
	}
	return !rule.MatchAny, nil
}

func (e *ruleEval) test(c filter.Condition, r *filter.Recipient) (bool, error) {
	switch c.Field {
	case filter.FieldSize:
		n, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil {
			return false, fmt.Errorf("size condition %q: %w", c.Value, err)
		}
		size := e.m.Message.Size()
		if c.Op == filter.OpOver {
			return size > n, nil
		}
		return size < n, nil
	case filter.FieldSubject:
		vals, err := e.header("Subject")
		if err != nil {
			return false, err
		}
		for i, v := range vals {
			vals[i] = decodeWords(v)
		}
		return anyText(c, vals), nil
	case filter.FieldHeader:
		vals, err := e.header(c.Header)
		if err != nil {
			return false, err
		}
		if c.Op == filter.OpExists {
			return len(vals) > 0, nil
		}
		return anyText(c, vals), nil
	case filter.FieldFrom:
		vals := []string{e.m.Envelope.From.Key()}
		hs, err := e.header("From")
		if err != nil {
			return false, err
		}
		return anyText(c, append(vals, addresses(hs)...)), nil
	case filter.FieldTo:
		vals := []string{r.Addr.Key(), r.Orig.Key()}
		for _, name := range []string{"To", "Cc"} {
			hs, err := e.header(name)
			if err != nil {
				return false, err
			}
			vals = append(vals, addresses(hs)...)
		}
		return anyText(c, vals), nil
	}
	return false, fmt.Errorf("unknown condition field %q", c.Field)
}

// addresses returns the addresses of address-list fields (lower case), or the raw
// value of a field that does not parse.
func addresses(vals []string) []string {
	var out []string
	for _, v := range vals {
		list, err := netmail.ParseAddressList(v)
		if err != nil {
			out = append(out, strings.ToLower(v))
			continue
		}
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
	}
	return out
}

func decodeWords(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s // undecodable words are compared as written
	}
	return d
}

// anyText reports whether any value passes a text condition (case-insensitive).
func anyText(c filter.Condition, vals []string) bool {
	want := strings.ToLower(c.Value)
	for _, v := range vals {
		v = strings.ToLower(v)
		switch c.Op {
		case filter.OpContains:
			if strings.Contains(v, want) {
				return true
			}
		case filter.OpIs:
			if v == want {
				return true
			}
		case filter.OpMatches:
			if glob(want, v) {
				return true
			}
		}
	}
	return false
}

// glob matches s against pattern with * (any run) and ? (one character), as Sieve's
// :matches (RFC 5228 2.7.1); iterative with one backtrack point, so linear-ish time.
func glob(pattern, s string) bool {
	p, r := []rune(pattern), []rune(s)
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(r) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == r[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
