package sieve

import (
	"strings"
	"unicode"

	"mailgrid/internal/mail"
)

// actionCmd is keep, discard, fileinto, redirect, reject or ereject.
type actionCmd struct {
	pos     Position
	kind    ActionKind
	arg     strExpr // fileinto mailbox, redirect address, reject reason
	flags   strList // :flags (RFC 5232 5)
	hasFlag bool    // :flags was given
	copy    bool    // :copy (RFC 3894)
}

// action compiles the action commands of RFC 5228 4 and RFC 5429:
//
//	keep [:flags <list-of-flags>]
//	discard
//	fileinto [:copy] [:flags <list-of-flags>] <mailbox: string>
//	redirect [:copy] <address: string>
//	reject <reason: string>     ereject <reason: string>
func (c *compiler) action(n *node) (command, error) {
	if err := c.shape(n, false, false); err != nil {
		return nil, err
	}
	a := &actionCmd{pos: n.pos}
	var need, what string
	switch n.name {
	case "keep":
		a.kind = ActionKeep
	case "discard":
		a.kind = ActionDiscard
	case "fileinto":
		a.kind, need, what = ActionFileInto, "fileinto", "mailbox name"
	case "redirect":
		a.kind, what = ActionRedirect, "address"
	case "reject":
		a.kind, need, what = ActionReject, "reject", "reason"
	case "ereject":
		a.kind, need, what = ActionEReject, "ereject", "reason"
	}
	if err := c.needs(need, n.pos, n.name); err != nil {
		return nil, err
	}
	r := c.args(n)
	if err := a.tags(r); err != nil {
		return nil, err
	}
	if what != "" {
		var err error
		if a.arg, err = r.str(what, Position{}); err != nil {
			return nil, err
		}
		if err := a.check(a.arg); err != nil {
			return nil, err
		}
	}
	return a, r.end()
}

func (a *actionCmd) tags(r *argReader) error {
	for {
		tag, pos, ok, err := r.nextTag()
		if err != nil || !ok {
			return err
		}
		switch {
		case tag == "copy" && (a.kind == ActionFileInto || a.kind == ActionRedirect):
			a.copy = true
			err = r.c.needs("copy", pos, ":copy")
		case tag == "flags" && (a.kind == ActionFileInto || a.kind == ActionKeep):
			a.hasFlag = true
			if err = r.c.needs("imap4flags", pos, ":flags"); err == nil {
				a.flags, err = r.list("list of flags", pos)
			}
		default:
			err = r.unknownTag(tag, pos)
		}
		if err != nil {
			return err
		}
	}
}

// check validates a constant argument at compile time; a variable one is checked when
// the script runs.
func (a *actionCmd) check(s strExpr) error {
	if !s.constant() {
		return nil
	}
	var msg string
	switch a.kind {
	case ActionFileInto:
		msg = checkMailbox(s.lit)
	case ActionRedirect:
		_, msg = redirectAddress(s.lit)
	}
	if msg != "" {
		return errorf(s.pos, "%s", msg)
	}
	return nil
}

// checkMailbox refuses names no mailbox can have: empty, or with control characters.
func checkMailbox(name string) string {
	if name == "" {
		return "fileinto: empty mailbox name"
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "fileinto: mailbox name contains control characters"
	}
	return ""
}

// redirectAddress parses a redirect target (RFC 5228 4.2: an RFC 5322 address; a
// display name around it is accepted and dropped).
func redirectAddress(s string) (string, string) {
	a := parseOneAddress(s)
	if !a.valid || a.domain == "" {
		return "", "redirect: invalid address " + quoteForMsg(s)
	}
	addr, err := mail.Parse(a.local + "@" + a.domain)
	if err != nil {
		return "", "redirect: invalid address " + quoteForMsg(s) + ": " + err.Error()
	}
	return addr.String(), ""
}

func quoteForMsg(s string) string {
	return `"` + truncate(s, 200) + `"`
}

func (a *actionCmd) exec(m *machine) error {
	act := Action{Kind: a.kind, Copy: a.copy}
	switch a.kind {
	case ActionKeep:
		act.Flags = m.actionFlags(a)
	case ActionFileInto:
		act.Mailbox = m.expand(a.arg)
		if msg := checkMailbox(act.Mailbox); msg != "" {
			return runtimeErr(a.pos, "%s", msg)
		}
		act.Flags = m.actionFlags(a)
		if strings.EqualFold(act.Mailbox, "INBOX") {
			// RFC 5228 2.10.3: filing into INBOX and keeping are one delivery.
			act = Action{Kind: ActionKeep, Flags: act.Flags}
		}
	case ActionRedirect:
		addr, msg := redirectAddress(m.expand(a.arg))
		if msg != "" {
			return runtimeErr(a.pos, "%s", msg)
		}
		act.Address = addr
	case ActionReject, ActionEReject:
		act.Reason = m.expand(a.arg)
	}
	if err := m.add(a.pos, act); err != nil {
		return err
	}
	if !a.copy {
		m.cancelled = true // RFC 5228 2.10.2; RFC 3894 3: :copy keeps the implicit keep
	}
	return nil
}

// actionFlags returns the flags for keep or fileinto: :flags if given, else the
// internal variable (RFC 5232 5).
func (m *machine) actionFlags(a *actionCmd) []string {
	if !m.script.flags {
		return nil
	}
	if !a.hasFlag {
		return m.currentFlags()
	}
	return parseFlags(m.expandList(a.flags))
}
