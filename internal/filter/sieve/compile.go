package sieve

import (
	"slices"
	"strings"
)

// Script is a compiled, validated script. It is immutable and safe for concurrent Run
// calls.
type Script struct {
	cmds      []command
	requires  []string
	nvars     int
	lim       Limits
	variables bool // "variables" required: templates and match variables are live
	flags     bool // "imap4flags" required: keep and fileinto carry flags
}

// Requires returns the extensions the script requires, in the order written.
func (s *Script) Requires() []string { return slices.Clone(s.requires) }

type command interface {
	exec(m *machine) error
}

type test interface {
	eval(m *machine) (bool, error)
}

// compiler validates the syntax tree and builds the executable tree.
type compiler struct {
	lim      Limits
	enabled  map[string]bool
	required map[string]bool
	vars     map[string]int
}

// Compile parses and validates a script (RFC 5228 with the extensions Options allow).
// Errors are *Error values carrying the line and column of the offending construct.
func Compile(src string, opt Options) (*Script, error) {
	lim := opt.Limits.withDefaults()
	nodes, err := parse(src, lim)
	if err != nil {
		return nil, err
	}
	c := &compiler{lim: lim, enabled: opt.enabled(), required: map[string]bool{}, vars: map[string]int{}}
	s := &Script{lim: lim}
	i := 0
	for ; i < len(nodes) && nodes[i].name == "require"; i++ {
		reqs, err := c.require(nodes[i])
		if err != nil {
			return nil, err
		}
		s.requires = append(s.requires, reqs...)
	}
	if s.cmds, err = c.block(nodes[i:]); err != nil {
		return nil, err
	}
	s.nvars = len(c.vars)
	s.variables = c.required["variables"]
	s.flags = c.required["imap4flags"]
	return s, nil
}

// require handles RFC 5228 3.2: every capability must be supported, and require may
// only appear before any other command (checked by block).
func (c *compiler) require(n *node) ([]string, error) {
	if err := c.shape(n, false, false); err != nil {
		return nil, err
	}
	if len(n.args) != 1 || n.args[0].kind != argStrings {
		return nil, errorf(n.pos, "require takes one string list of capabilities")
	}
	for _, cp := range n.args[0].strs {
		name := strings.ToLower(cp)
		if !c.enabled[name] {
			return nil, errorf(n.args[0].pos, "unsupported extension %q", cp)
		}
		c.required[name] = true
	}
	return n.args[0].strs, nil
}

// needs checks that an extension was required before use (RFC 5228 3.2, 6).
func (c *compiler) needs(ext string, pos Position, what string) error {
	if ext == "" || c.required[ext] {
		return nil
	}
	return errorf(pos, "%s requires the %q extension (add: require %q;)", what, ext, ext)
}

// shape checks the block and test parts of a node against what the command takes.
func (c *compiler) shape(n *node, takesTests, takesBlock bool) error {
	if !takesTests && len(n.tests) > 0 {
		return errorf(n.tests[0].pos, "%s takes no test", n.name)
	}
	if takesBlock && !n.hasBlock {
		return errorf(n.pos, "%s needs a block { ... }", n.name)
	}
	if !takesBlock && n.hasBlock {
		return errorf(n.pos, "%s takes no block; end it with \";\"", n.name)
	}
	return nil
}

// block compiles a command sequence, joining if/elsif/else chains (RFC 5228 3.1).
func (c *compiler) block(nodes []*node) ([]command, error) {
	var out []command
	var chain *ifCmd
	for _, n := range nodes {
		switch n.name {
		case "elsif", "else":
			if chain == nil || chain.elseBlock != nil {
				return nil, errorf(n.pos, "%s without a preceding if", n.name)
			}
			if err := c.elseBranch(chain, n); err != nil {
				return nil, err
			}
			continue
		case "require":
			return nil, errorf(n.pos, "require must come before any other command (RFC 5228 3.2)")
		}
		chain = nil
		cmd, err := c.command(n)
		if err != nil {
			return nil, err
		}
		if ic, ok := cmd.(*ifCmd); ok {
			chain = ic
		}
		out = append(out, cmd)
	}
	return out, nil
}

func (c *compiler) elseBranch(chain *ifCmd, n *node) error {
	body, err := c.conditional(n, n.name == "elsif")
	if err != nil {
		return err
	}
	if n.name == "else" {
		chain.elseBlock = body.body
		if chain.elseBlock == nil {
			chain.elseBlock = []command{}
		}
		return nil
	}
	chain.branches = append(chain.branches, body)
	return nil
}

// conditional compiles the test and block of if, elsif (withTest) or else.
func (c *compiler) conditional(n *node, withTest bool) (branch, error) {
	if err := c.shape(n, withTest, true); err != nil {
		return branch{}, err
	}
	if len(n.args) > 0 {
		return branch{}, errorf(n.args[0].pos, "%s takes no arguments", n.name)
	}
	var b branch
	if withTest {
		if len(n.tests) != 1 || n.testList {
			return branch{}, errorf(n.pos, "%s needs exactly one test", n.name)
		}
		var err error
		if b.cond, err = c.test(n.tests[0]); err != nil {
			return branch{}, err
		}
	}
	body, err := c.block(n.block)
	b.body = body
	return b, err
}

// command compiles one command other than require, elsif and else.
func (c *compiler) command(n *node) (command, error) {
	switch n.name {
	case "if":
		b, err := c.conditional(n, true)
		if err != nil {
			return nil, err
		}
		return &ifCmd{branches: []branch{b}}, nil
	case "stop":
		if err := c.noArgs(n); err != nil {
			return nil, err
		}
		return stopCmd{}, nil
	case "keep", "discard", "fileinto", "redirect", "reject", "ereject":
		return c.action(n)
	case "vacation":
		return c.vacation(n)
	case "set":
		return c.set(n)
	case "setflag", "addflag", "removeflag":
		return c.flagCmd(n)
	}
	if isTestName(n.name) {
		return nil, errorf(n.pos, "%q is a test, not a command", n.name)
	}
	return nil, errorf(n.pos, "unknown command %q", n.name)
}

func (c *compiler) noArgs(n *node) error {
	if err := c.shape(n, false, false); err != nil {
		return err
	}
	if len(n.args) > 0 {
		return errorf(n.args[0].pos, "%s takes no arguments", n.name)
	}
	return nil
}

// branch is one "if" or "elsif" arm.
type branch struct {
	cond test
	body []command
}

// ifCmd is an if/elsif/else chain (RFC 5228 3.1); elseBlock is nil without else.
type ifCmd struct {
	branches  []branch
	elseBlock []command
}

func (c *ifCmd) exec(m *machine) error {
	for _, b := range c.branches {
		ok, err := b.cond.eval(m)
		if err != nil {
			return err
		}
		if ok {
			return m.run(b.body)
		}
	}
	return m.run(c.elseBlock)
}

// stopCmd ends the script (RFC 5228 3.3).
type stopCmd struct{}

func (stopCmd) exec(*machine) error { return errStop }
