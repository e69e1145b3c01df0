package sieve

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ActionKind names what the delivery agent must do.
type ActionKind uint8

const (
	ActionKeep     ActionKind = iota + 1 // store in the default mailbox (RFC 5228 4.3)
	ActionFileInto                       // store in Mailbox (RFC 5228 4.1)
	ActionRedirect                       // forward to Address (RFC 5228 4.2)
	ActionDiscard                        // silently drop (RFC 5228 4.4); informational
	ActionReject                         // refuse with a bounce, or 5xx in the session (RFC 5429 2.2)
	ActionEReject                        // refuse in the SMTP session (RFC 5429 2.1)
	ActionVacation                       // send the auto-reply in Vacation (RFC 5230)
)

func (k ActionKind) String() string {
	switch k {
	case ActionKeep:
		return "keep"
	case ActionFileInto:
		return "fileinto"
	case ActionRedirect:
		return "redirect"
	case ActionDiscard:
		return "discard"
	case ActionReject:
		return "reject"
	case ActionEReject:
		return "ereject"
	case ActionVacation:
		return "vacation"
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Action is one thing a run asks the delivery agent to do. The message is stored once
// per Keep and FileInto action and sent once per Redirect; Discard only records that
// the script discarded it (it is not stored unless another action stores it).
type Action struct {
	Kind     ActionKind
	Mailbox  string          // FileInto: the mailbox name as the script wrote it
	Flags    []string        // Keep, FileInto: IMAP flags to set (RFC 5232), nil for none
	Copy     bool            // FileInto, Redirect: :copy was given (RFC 3894)
	Implicit bool            // Keep: the implicit keep (RFC 5228 2.10.2)
	Address  string          // Redirect: the target address
	Reason   string          // Reject, EReject: the text for the sender
	Vacation *VacationAction // Vacation
}

// Result is the outcome of a run.
type Result struct {
	Actions []Action
	// VacationSkipped is why a vacation action that ran produced no reply (RFC 3834,
	// RFC 5230 4.5, 4.6), for logs; "" when no vacation ran or a reply is due.
	VacationSkipped string
}

// Kept reports whether the result stores the message in any mailbox.
func (r *Result) Kept() bool {
	for _, a := range r.Actions {
		if a.Kind == ActionKeep || a.Kind == ActionFileInto {
			return true
		}
	}
	return false
}

// RunOptions carry what a run needs beyond the message.
type RunOptions struct {
	// Addresses are the account's own addresses (primary and aliases). With the
	// envelope recipient and :addresses, vacation replies only when one of them is in
	// To/Cc/Bcc/Resent-* and never to one of them (RFC 5230 4.5).
	Addresses []string
	// Now is the current time for currentdate (RFC 5260 5); zero means time.Now().
	Now time.Time
}

// errStop unwinds the run after "stop" (RFC 5228 3.3).
var errStop = errors.New("stop")

// machine is the state of one run.
type machine struct {
	ctx       context.Context
	script    *Script
	lim       Limits
	msg       Message
	env       Envelope
	opt       RunOptions
	vars      []string
	matchVars []string
	flags     []string // the internal variable of RFC 5232 3
	actions   []Action
	cancelled bool // the implicit keep is cancelled (RFC 5228 2.10.2)
	redirects int
	vacation  bool // a vacation action ran
	skipped   string
	work      int64
	regexps   map[string]*regexp.Regexp
	body      *bodyCache
	headers   map[string][]string     // by lower-case name, read once per run
	addrs     map[string][]headerAddr // parsed address headers, once per run
}

// Run executes the script against msg and returns the actions to take, with the
// implicit keep added (RFC 5228 2.10.2). On a runtime error (a limit, conflicting
// actions, a canceled ctx) the error is returned with a Result holding only the
// implicit keep: RFC 5228 2.10.6 says the message is then kept, and no other action
// of the failed run is taken.
func (s *Script) Run(ctx context.Context, msg Message, opt RunOptions) (*Result, error) {
	m := &machine{
		ctx: ctx, script: s, lim: s.lim, msg: msg, env: msg.Envelope(), opt: opt,
		vars: make([]string, s.nvars),
	}
	err := m.run(s.cmds)
	if err != nil && !errors.Is(err, errStop) {
		return &Result{Actions: []Action{{Kind: ActionKeep, Implicit: true}}}, err
	}
	if !m.cancelled {
		implicit := Action{Kind: ActionKeep, Implicit: true, Flags: m.currentFlags()}
		if !slices.ContainsFunc(m.actions, func(a Action) bool { return a.Kind == ActionKeep }) {
			m.actions = append(m.actions, implicit)
		} else {
			// fileinto :copy "INBOX" kept it already: one delivery (RFC 5228 2.10.3).
			for i := range m.actions {
				mergeAction(&m.actions[i], implicit)
			}
		}
	}
	return &Result{Actions: m.actions, VacationSkipped: m.skipped}, nil
}

func (m *machine) run(cmds []command) error {
	for _, c := range cmds {
		if err := m.ctx.Err(); err != nil {
			return err
		}
		if err := c.exec(m); err != nil {
			return err
		}
	}
	return nil
}

func runtimeErr(pos Position, format string, args ...any) error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Runtime: true}
}

// spend charges n units of matching work against Limits.MaxMatchWork.
func (m *machine) spend(n int64) error {
	m.work += n
	if m.work > m.lim.MaxMatchWork {
		return runtimeErr(Position{}, "matching work exceeds the limit of %d", m.lim.MaxMatchWork)
	}
	return nil
}

// setMatch sets ${0} to whole and ${1}... to the captures (RFC 5229 3.2).
func (m *machine) setMatch(whole string, caps []string) {
	m.matchVars = m.matchVars[:0]
	m.matchVars = append(m.matchVars, truncate(whole, m.lim.MaxStringBytes))
	for _, c := range caps {
		if len(m.matchVars) == maxMatchVars {
			break
		}
		m.matchVars = append(m.matchVars, truncate(c, m.lim.MaxStringBytes))
	}
}

// regexp compiles a key that variables made dynamic, once per run.
func (m *machine) regexp(k string, cmp comparator) (*regexp.Regexp, error) {
	key := fmt.Sprint(cmp) + "\x00" + k
	if re, ok := m.regexps[key]; ok {
		return re, nil
	}
	re, err := compileRegex(k, cmp)
	if err != nil {
		return nil, runtimeErr(Position{}, "invalid regular expression %q: %v", k, err)
	}
	if m.regexps == nil {
		m.regexps = map[string]*regexp.Regexp{}
	}
	m.regexps[key] = re
	return re, nil
}

// header returns the values of a header, reading and charging them once per run so
// that thousands of tests on one large header cost their matching, not re-reading.
func (m *machine) header(name string) ([]string, error) {
	k := strings.ToLower(name)
	if v, ok := m.headers[k]; ok {
		return v, nil
	}
	vals := m.msg.Header(name)
	cost := int64(1)
	for _, v := range vals {
		cost += int64(len(v)) + 1
	}
	if err := m.spend(cost); err != nil {
		return nil, err
	}
	if m.headers == nil {
		m.headers = map[string][]string{}
	}
	m.headers[k] = vals
	return vals, nil
}

// addresses returns the addresses in every field named name (RFC 5228 5.1), parsed
// once per run.
func (m *machine) addresses(name string) ([]headerAddr, error) {
	k := strings.ToLower(name)
	if a, ok := m.addrs[k]; ok {
		return a, nil
	}
	vals, err := m.header(name)
	if err != nil {
		return nil, err
	}
	var out []headerAddr
	for _, v := range vals {
		out = append(out, parseAddressList(v)...)
	}
	if m.addrs == nil {
		m.addrs = map[string][]headerAddr{}
	}
	m.addrs[k] = out
	return out, nil
}

// currentFlags is the internal flag variable when imap4flags is in use.
func (m *machine) currentFlags() []string {
	if !m.script.flags || len(m.flags) == 0 {
		return nil
	}
	return append([]string(nil), m.flags...)
}

// add records an action, enforcing the limits and incompatibilities, and merging
// duplicates (RFC 5228 2.10.3: the same mailbox or address only once).
func (m *machine) add(pos Position, a Action) error {
	if err := m.conflict(pos, a.Kind); err != nil {
		return err
	}
	for i := range m.actions {
		if merged := mergeAction(&m.actions[i], a); merged {
			return nil
		}
	}
	if len(m.actions) >= m.lim.MaxActions {
		return runtimeErr(pos, "more than %d actions", m.lim.MaxActions)
	}
	if a.Kind == ActionRedirect {
		if m.redirects >= m.lim.MaxRedirects {
			return runtimeErr(pos, "more than %d redirects", m.lim.MaxRedirects)
		}
		m.redirects++
	}
	m.actions = append(m.actions, a)
	return nil
}

// conflict enforces RFC 5429 2.1/2.2: reject and ereject exclude keep, fileinto,
// redirect, vacation and each other.
func (m *machine) conflict(pos Position, k ActionKind) error {
	isReject := func(k ActionKind) bool { return k == ActionReject || k == ActionEReject }
	for _, prev := range m.actions {
		if prev.Kind == ActionDiscard || k == ActionDiscard {
			continue
		}
		if isReject(k) || isReject(prev.Kind) {
			return runtimeErr(pos, "%s conflicts with the earlier %s (RFC 5429 2.1)", k, prev.Kind)
		}
	}
	if isReject(k) && m.vacation {
		return runtimeErr(pos, "%s conflicts with the earlier vacation (RFC 5429)", k)
	}
	return nil
}

// mergeAction folds a into prev when they store into the same place or send to the
// same address; flags are united.
func mergeAction(prev *Action, a Action) bool {
	same := false
	switch {
	case a.Kind == ActionKeep && prev.Kind == ActionKeep, a.Kind == ActionDiscard && prev.Kind == ActionDiscard:
		same = true
	case a.Kind == ActionFileInto && prev.Kind == ActionFileInto:
		same = a.Mailbox == prev.Mailbox
	case a.Kind == ActionRedirect && prev.Kind == ActionRedirect:
		same = strings.EqualFold(a.Address, prev.Address)
	}
	if !same {
		return false
	}
	prev.Copy = prev.Copy && a.Copy
	for _, f := range a.Flags {
		prev.Flags = addFlag(prev.Flags, f)
	}
	return true
}
