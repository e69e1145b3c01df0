package sieve

import (
	"unicode/utf8"
)

// The syntax tree, before validation (RFC 5228 8.2):
//
//	commands   = *command
//	command    = identifier arguments (";" / block)
//	block      = "{" commands "}"
//	arguments  = *argument [ test / test-list ]
//	argument   = string-list / number / tag
//	string-list = "[" string *("," string) "]" / string
//	test       = identifier arguments
//	test-list  = "(" test *("," test) ")"

type argKind uint8

const (
	argTag argKind = iota + 1
	argNumber
	argStrings // a single string or a string list
)

type argument struct {
	kind   argKind
	pos    Position
	tag    string   // argTag: lower case, without ':'
	num    int64    // argNumber
	strs   []string // argStrings
	isList bool     // argStrings written with brackets
}

// node is a command or a test as written.
type node struct {
	pos      Position
	name     string // lower case (RFC 5228 2.2: identifiers are case-insensitive)
	args     []argument
	tests    []*node
	testList bool // tests were written as a parenthesised test-list
	block    []*node
	hasBlock bool
}

// parser builds the tree, enforcing the structural limits (nesting depth, node count)
// as it goes so that a hostile script is refused before it costs memory.
type parser struct {
	lx    *lexer
	tok   token
	lim   Limits
	nodes int
}

func parse(src string, lim Limits) ([]*node, error) {
	if len(src) > lim.MaxScriptBytes {
		return nil, errorf(Position{1, 1}, "script is %d bytes, over the limit of %d", len(src), lim.MaxScriptBytes)
	}
	if !utf8.ValidString(src) {
		return nil, errorf(invalidUTF8Pos(src), "script is not valid UTF-8 (RFC 5228 2.4.2)")
	}
	p := &parser{lx: newLexer(src), lim: lim}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, errorf(p.tok.pos, "unexpected %s", p.tok.describe())
	}
	return cmds, nil
}

func invalidUTF8Pos(src string) Position {
	lx := newLexer(src)
	for lx.off < len(src) {
		r, size := utf8.DecodeRuneInString(src[lx.off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		lx.advance(size)
	}
	return lx.pos()
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tokPunct && p.tok.text == s }

func (p *parser) expectPunct(s string, what string) error {
	if !p.isPunct(s) {
		return errorf(p.tok.pos, "expected %q %s, found %s", s, what, p.tok.describe())
	}
	return p.advance()
}

func (p *parser) newNode(depth int) (*node, error) {
	if depth > p.lim.MaxNesting {
		return nil, errorf(p.tok.pos, "nesting deeper than %d levels", p.lim.MaxNesting)
	}
	p.nodes++
	if p.nodes > p.lim.MaxCommands {
		return nil, errorf(p.tok.pos, "more than %d commands and tests", p.lim.MaxCommands)
	}
	if p.tok.kind != tokIdent {
		return nil, errorf(p.tok.pos, "expected a command or test name, found %s", p.tok.describe())
	}
	n := &node{pos: p.tok.pos, name: p.tok.text}
	return n, p.advance()
}

// commands parses commands until "}" or the end of the script.
func (p *parser) commands(depth int) ([]*node, error) {
	var out []*node
	for p.tok.kind != tokEOF && !p.isPunct("}") {
		c, err := p.command(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) command(depth int) (*node, error) {
	n, err := p.newNode(depth)
	if err != nil {
		return nil, err
	}
	if err := p.arguments(n, depth); err != nil {
		return nil, err
	}
	switch {
	case p.isPunct(";"):
		return n, p.advance()
	case p.isPunct("{"):
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		n.hasBlock = true
		if n.block, err = p.commands(depth + 1); err != nil {
			return nil, err
		}
		if !p.isPunct("}") {
			return nil, errorf(open, "block opened here is not closed")
		}
		return n, p.advance()
	case p.tok.kind == tokEOF:
		return nil, errorf(p.tok.pos, "missing \";\" after command %q", n.name)
	default:
		return nil, errorf(p.tok.pos, "expected \";\" or \"{\" after the arguments of %q, found %s", n.name, p.tok.describe())
	}
}

// arguments parses *argument [ test / test-list ].
func (p *parser) arguments(n *node, depth int) error {
	for {
		switch {
		case p.tok.kind == tokTag:
			n.args = append(n.args, argument{kind: argTag, pos: p.tok.pos, tag: p.tok.text})
		case p.tok.kind == tokNumber:
			n.args = append(n.args, argument{kind: argNumber, pos: p.tok.pos, num: p.tok.num})
		case p.tok.kind == tokString:
			n.args = append(n.args, argument{kind: argStrings, pos: p.tok.pos, strs: []string{p.tok.text}})
		case p.isPunct("["):
			a, err := p.stringList()
			if err != nil {
				return err
			}
			n.args = append(n.args, a)
			continue
		case p.tok.kind == tokIdent:
			t, err := p.test(depth + 1)
			if err != nil {
				return err
			}
			n.tests = []*node{t}
			return nil
		case p.isPunct("("):
			return p.testList(n, depth)
		default:
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) stringList() (argument, error) {
	a := argument{kind: argStrings, pos: p.tok.pos, isList: true}
	if err := p.advance(); err != nil {
		return a, err
	}
	for {
		if p.tok.kind != tokString {
			return a, errorf(p.tok.pos, "expected a string in the string list, found %s", p.tok.describe())
		}
		a.strs = append(a.strs, p.tok.text)
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.isPunct("]") {
			return a, p.advance()
		}
		if err := p.expectPunct(",", "or \"]\" in the string list"); err != nil {
			return a, err
		}
	}
}

func (p *parser) testList(n *node, depth int) error {
	n.testList = true
	if err := p.advance(); err != nil {
		return err
	}
	for {
		t, err := p.test(depth + 1)
		if err != nil {
			return err
		}
		n.tests = append(n.tests, t)
		if p.isPunct(")") {
			return p.advance()
		}
		if err := p.expectPunct(",", "or \")\" in the test list"); err != nil {
			return err
		}
	}
}

func (p *parser) test(depth int) (*node, error) {
	n, err := p.newNode(depth)
	if err != nil {
		return nil, err
	}
	return n, p.arguments(n, depth)
}
