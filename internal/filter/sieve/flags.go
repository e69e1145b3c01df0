package sieve

import (
	"strings"
)

// flagOp is setflag, addflag or removeflag (RFC 5232 3).
type flagOp uint8

const (
	flagSet flagOp = iota
	flagAdd
	flagRemove
)

// flagCmd is "setflag/addflag/removeflag [<variablename: string>] <list-of-flags>".
// slot is the variable, or -1 for the internal variable.
type flagCmd struct {
	op    flagOp
	slot  int
	flags strList
}

func (c *compiler) flagCmd(n *node) (command, error) {
	if err := c.shape(n, false, false); err != nil {
		return nil, err
	}
	if err := c.needs("imap4flags", n.pos, n.name); err != nil {
		return nil, err
	}
	f := &flagCmd{slot: -1}
	switch n.name {
	case "addflag":
		f.op = flagAdd
	case "removeflag":
		f.op = flagRemove
	}
	r := c.args(n)
	if r.remaining() == 2 {
		var err error
		if f.slot, err = c.variableArg(r); err != nil {
			return nil, err
		}
	}
	var err error
	if f.flags, err = r.list("list of flags", Position{}); err != nil {
		return nil, err
	}
	return f, r.end()
}

// variableArg reads a variable name argument (RFC 5232 3, RFC 5229 4), which needs the
// variables extension and must be a plain identifier.
func (c *compiler) variableArg(r *argReader) (int, error) {
	name, pos, err := r.rawString("variable name", Position{})
	if err != nil {
		return 0, err
	}
	if err := c.needs("variables", pos, "a variable name"); err != nil {
		return 0, err
	}
	if !isIdentifier(name) {
		return 0, errorf(pos, "invalid variable name %q", name)
	}
	return c.variable(name, pos)
}

func (f *flagCmd) exec(m *machine) error {
	cur := m.flags
	if f.slot >= 0 {
		cur = parseFlags([]string{m.vars[f.slot]})
	}
	given := parseFlags(m.expandList(f.flags))
	switch f.op {
	case flagSet:
		cur = given
	case flagAdd:
		for _, g := range given {
			cur = addFlag(cur, g)
		}
	case flagRemove:
		var keep []string
		for _, c := range cur {
			if !containsFold(given, c) {
				keep = append(keep, c)
			}
		}
		cur = keep
	}
	if f.slot >= 0 {
		m.vars[f.slot] = truncate(strings.Join(cur, " "), m.lim.MaxStringBytes)
	} else {
		m.flags = cur
	}
	return nil
}

// hasflagTest is "hasflag [MATCH-TYPE] [COMPARATOR] [<variable-list>] <list-of-flags>"
// (RFC 5232 4): it compares each flag held by the variables (or the internal variable)
// with the keys.
type hasflagTest struct {
	m     *matcher
	slots []int
}

func (c *compiler) hasflag(n *node) (test, error) {
	if err := c.needs("imap4flags", n.pos, n.name); err != nil {
		return nil, err
	}
	r := c.args(n)
	o, err := c.tagsOnly(r, false)
	if err != nil {
		return nil, err
	}
	h := &hasflagTest{}
	if r.remaining() == 2 {
		a, err := r.take(argStrings, "variable list", Position{})
		if err != nil {
			return nil, err
		}
		if err := c.needs("variables", a.pos, "a variable list"); err != nil {
			return nil, err
		}
		for _, name := range a.strs {
			if !isIdentifier(name) {
				return nil, errorf(a.pos, "invalid variable name %q", name)
			}
			slot, err := c.variable(name, a.pos)
			if err != nil {
				return nil, err
			}
			h.slots = append(h.slots, slot)
		}
	}
	keys, err := r.list("list of flags", Position{})
	if err != nil {
		return nil, err
	}
	if h.m, err = c.matcher(o, keys); err != nil {
		return nil, err
	}
	return h, r.end()
}

func (h *hasflagTest) eval(m *machine) (bool, error) {
	var values []string
	if h.slots == nil {
		values = m.flags
	}
	for _, s := range h.slots {
		values = append(values, parseFlags([]string{m.vars[s]})...)
	}
	return h.m.test(m, values)
}

// parseFlags splits flag strings at white space (RFC 5232 2: a string may hold several
// flags) and keeps the valid ones once each: system flags in their canonical case,
// keywords as IMAP atoms (RFC 9051 9 flag-keyword). Invalid flags are ignored.
func parseFlags(list []string) []string {
	var out []string
	for _, s := range list {
		for _, f := range strings.Fields(s) {
			if f = canonicalFlag(f); f != "" {
				out = addFlag(out, f)
			}
		}
	}
	return out
}

func canonicalFlag(f string) string {
	if strings.HasPrefix(f, "\\") {
		for _, sys := range []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`} {
			if strings.EqualFold(f, sys) {
				return sys
			}
		}
		return "" // \Recent and unknown system flags cannot be set
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return ""
		}
	}
	return f
}

// addFlag appends f unless flags already holds it (flags are case-insensitive).
func addFlag(flags []string, f string) []string {
	if containsFold(flags, f) {
		return flags
	}
	return append(flags, f)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
