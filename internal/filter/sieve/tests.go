package sieve

import "strings"

func isTestName(name string) bool {
	switch name {
	case "address", "allof", "anyof", "envelope", "exists", "false", "header", "not", "size", "true",
		"body", "string", "hasflag", "date", "currentdate":
		return true
	}
	return false
}

// test compiles a test (RFC 5228 5 and extensions).
func (c *compiler) test(n *node) (test, error) {
	if n.hasBlock {
		return nil, errorf(n.pos, "a test takes no block")
	}
	switch n.name {
	case "true", "false":
		if err := c.noArgs(n); err != nil {
			return nil, err
		}
		return constTest(n.name == "true"), nil
	case "not", "allof", "anyof":
		return c.logic(n)
	}
	if len(n.tests) > 0 {
		return nil, errorf(n.tests[0].pos, "%s takes no nested test", n.name)
	}
	switch n.name {
	case "header", "address", "envelope":
		return c.headerLike(n)
	case "exists":
		return c.exists(n)
	case "size":
		return c.size(n)
	case "body":
		return c.body(n)
	case "string":
		return c.stringTest(n)
	case "hasflag":
		return c.hasflag(n)
	case "date", "currentdate":
		return c.date(n)
	}
	if n.name == "if" || n.name == "elsif" || n.name == "else" || n.name == "require" {
		return nil, errorf(n.pos, "%q is a command, not a test", n.name)
	}
	return nil, errorf(n.pos, "unknown test %q", n.name)
}

type constTest bool

func (t constTest) eval(*machine) (bool, error) { return bool(t), nil }

// logicTest is not (RFC 5228 5.8), allof (5.2) or anyof (5.3); allof and anyof stop at
// the first test that decides them (RFC 5229 3.2 relies on it for match variables).
type logicTest struct {
	op    string
	tests []test
}

func (c *compiler) logic(n *node) (test, error) {
	if len(n.args) > 0 {
		return nil, errorf(n.args[0].pos, "%s takes no arguments", n.name)
	}
	if n.name == "not" && len(n.tests) != 1 {
		return nil, errorf(n.pos, "not takes exactly one test")
	}
	if len(n.tests) == 0 {
		return nil, errorf(n.pos, "%s takes a test list ( ... )", n.name)
	}
	t := &logicTest{op: n.name}
	for _, sub := range n.tests {
		ct, err := c.test(sub)
		if err != nil {
			return nil, err
		}
		t.tests = append(t.tests, ct)
	}
	return t, nil
}

func (t *logicTest) eval(m *machine) (bool, error) {
	for _, sub := range t.tests {
		ok, err := sub.eval(m)
		if err != nil {
			return false, err
		}
		switch {
		case t.op == "not":
			return !ok, nil
		case t.op == "allof" && !ok:
			return false, nil
		case t.op == "anyof" && ok:
			return true, nil
		}
	}
	return t.op == "allof", nil
}

// tagsOnly reads the tags of a test that takes only COMPARATOR and MATCH-TYPE (and,
// with parts, ADDRESS-PART).
func (c *compiler) tagsOnly(r *argReader, parts bool) (matchOpts, error) {
	var o matchOpts
	for {
		tag, pos, ok, err := r.nextTag()
		if err != nil || !ok {
			return o, err
		}
		handled, err := r.matchTag(&o, tag, pos, parts)
		if err != nil {
			return o, err
		}
		if !handled {
			return o, r.unknownTag(tag, pos)
		}
	}
}

// headerTest is header (RFC 5228 5.7), address (5.1) or envelope (5.4):
//
//	header   [COMPARATOR] [MATCH-TYPE] <header-names: string-list> <key-list: string-list>
//	address  [COMPARATOR] [ADDRESS-PART] [MATCH-TYPE] <header-list> <key-list>
//	envelope [COMPARATOR] [ADDRESS-PART] [MATCH-TYPE] <envelope-part> <key-list>
type headerTest struct {
	kind  string
	names strList
	part  addrPart
	m     *matcher
}

func (c *compiler) headerLike(n *node) (test, error) {
	if n.name == "envelope" {
		if err := c.needs("envelope", n.pos, "envelope"); err != nil {
			return nil, err
		}
	}
	r := c.args(n)
	o, err := c.tagsOnly(r, n.name != "header")
	if err != nil {
		return nil, err
	}
	t := &headerTest{kind: n.name, part: o.part}
	if t.names, err = r.list(n.name+" names", Position{}); err != nil {
		return nil, err
	}
	for _, name := range t.names {
		if err := checkHeaderName(n.name, name); err != nil {
			return nil, err
		}
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

// checkHeaderName validates a constant header or envelope-part name.
func checkHeaderName(kind string, s strExpr) error {
	if !s.constant() {
		return nil
	}
	switch {
	case kind == "envelope":
		if p := strings.ToLower(s.lit); p != "from" && p != "to" {
			return errorf(s.pos, "envelope part %q is not supported (from, to)", s.lit)
		}
	case !validFieldName(s.lit):
		return errorf(s.pos, "invalid header name %q", s.lit)
	case kind == "address" && !isAddressHeader(s.lit):
		return errorf(s.pos, "header %q does not hold addresses (RFC 5228 5.1)", s.lit)
	}
	return nil
}

// validFieldName checks RFC 5322 2.2 ftext.
func validFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return s != ""
}

func (t *headerTest) eval(m *machine) (bool, error) {
	var values []string
	for _, name := range m.expandList(t.names) {
		switch t.kind {
		case "header":
			vals, err := m.header(name)
			if err != nil {
				return false, err
			}
			values = append(values, vals...)
		case "address":
			if !isAddressHeader(name) {
				continue
			}
			addrs, err := m.addresses(name)
			if err != nil {
				return false, err
			}
			for _, a := range addrs {
				if v, ok := a.part(t.part); ok {
					values = append(values, v)
				}
			}
		default:
			if v, ok := m.envelopePart(name, t.part); ok {
				values = append(values, v)
			}
		}
	}
	return t.m.test(m, values)
}

// envelopePart returns a part of the envelope "from" or "to" (RFC 5228 5.4). The null
// reverse path is the empty string whatever the address part.
func (m *machine) envelopePart(name string, p addrPart) (string, bool) {
	var a = m.env.To
	switch strings.ToLower(name) {
	case "from":
		a = m.env.From
		if a.IsZero() {
			return "", true
		}
	case "to":
	default:
		return "", false
	}
	return headerAddr{raw: a.String(), local: a.Local, domain: a.Domain, valid: true}.part(p)
}

// existsTest is "exists <header-names>" (RFC 5228 5.5): true if every header exists.
type existsTest struct{ names strList }

func (c *compiler) exists(n *node) (test, error) {
	r := c.args(n)
	names, err := r.list("header names", Position{})
	if err != nil {
		return nil, err
	}
	for _, s := range names {
		if err := checkHeaderName("exists", s); err != nil {
			return nil, err
		}
	}
	return &existsTest{names: names}, r.end()
}

func (t *existsTest) eval(m *machine) (bool, error) {
	for _, name := range m.expandList(t.names) {
		vals, err := m.header(name)
		if err != nil || len(vals) == 0 {
			return false, err
		}
	}
	return true, nil
}

// sizeTest is "size <:over / :under> <limit: number>" (RFC 5228 5.9); both compare
// strictly.
type sizeTest struct {
	over  bool
	limit int64
}

func (c *compiler) size(n *node) (test, error) {
	r := c.args(n)
	tag, pos, ok, err := r.nextTag()
	if err != nil {
		return nil, err
	}
	if !ok || tag != "over" && tag != "under" {
		if ok {
			return nil, r.unknownTag(tag, pos)
		}
		return nil, errorf(n.pos, "size needs :over or :under")
	}
	limit, err := r.number("size limit", pos)
	if err != nil {
		return nil, err
	}
	return &sizeTest{over: tag == "over", limit: limit}, r.end()
}

func (t *sizeTest) eval(m *machine) (bool, error) {
	if t.over {
		return m.msg.Size() > t.limit, nil
	}
	return m.msg.Size() < t.limit, nil
}
