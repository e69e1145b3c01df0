package sieve

import (
	"slices"
)

// setCmd is "set [MODIFIER] <name: string> <value: string>" (RFC 5229 4).
type setCmd struct {
	slot  int
	value strExpr
	mods  []modifier // in order of application
}

func (c *compiler) set(n *node) (command, error) {
	if err := c.shape(n, false, false); err != nil {
		return nil, err
	}
	if err := c.needs("variables", n.pos, "set"); err != nil {
		return nil, err
	}
	r := c.args(n)
	s := &setCmd{}
	for {
		tag, pos, ok, err := r.nextTag()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		mod, known := modifierByName(tag)
		if !known {
			return nil, r.unknownTag(tag, pos)
		}
		for _, prev := range s.mods {
			if prev.precedence() == mod.precedence() {
				return nil, errorf(pos, "set: modifier :%s cannot be combined with one of the same precedence (RFC 5229 4.1)", tag)
			}
		}
		s.mods = append(s.mods, mod)
	}
	// RFC 5229 4.1: higher precedence first.
	slices.SortStableFunc(s.mods, func(a, b modifier) int { return b.precedence() - a.precedence() })
	var err error
	if s.slot, err = c.variableArg(r); err != nil {
		return nil, err
	}
	if s.value, err = r.str("value", Position{}); err != nil {
		return nil, err
	}
	return s, r.end()
}

func (s *setCmd) exec(m *machine) error {
	v := m.expand(s.value)
	for _, mod := range s.mods {
		v = mod.apply(v)
	}
	m.vars[s.slot] = truncate(v, m.lim.MaxStringBytes)
	return nil
}

// stringTest is "string [MATCH-TYPE] [COMPARATOR] <source: string-list>
// <key-list: string-list>" (RFC 5229 5).
type stringTest struct {
	sources strList
	m       *matcher
}

func (c *compiler) stringTest(n *node) (test, error) {
	if err := c.needs("variables", n.pos, "string"); err != nil {
		return nil, err
	}
	r := c.args(n)
	o, err := c.tagsOnly(r, false)
	if err != nil {
		return nil, err
	}
	t := &stringTest{}
	if t.sources, err = r.list("source", Position{}); err != nil {
		return nil, err
	}
	keys, err := r.list("key list", Position{})
	if err != nil {
		return nil, err
	}
	if t.m, err = c.matcher(o, keys); err != nil {
		return nil, err
	}
	return t, r.end()
}

func (t *stringTest) eval(m *machine) (bool, error) {
	values := m.expandList(t.sources)
	if t.m.kind == mtCount {
		// RFC 5229 5: for :count, an empty string counts as no value.
		values = slices.DeleteFunc(values, func(s string) bool { return s == "" })
	}
	return t.m.test(m, values)
}
