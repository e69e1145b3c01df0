package sieve

import "regexp"

// argReader walks a node's arguments: tagged arguments first, then positional ones
// (RFC 5228 2.6.2, 2.6.3).
type argReader struct {
	c    *compiler
	n    *node
	i    int
	seen map[string]bool
}

func (c *compiler) args(n *node) *argReader {
	return &argReader{c: c, n: n, seen: map[string]bool{}}
}

// nextTag consumes and returns the next argument if it is a tag. A tag given twice is an
// error (RFC 5228 2.6.2).
func (r *argReader) nextTag() (string, Position, bool, error) {
	if r.i >= len(r.n.args) || r.n.args[r.i].kind != argTag {
		return "", Position{}, false, nil
	}
	a := r.n.args[r.i]
	r.i++
	if r.seen[a.tag] {
		return "", a.pos, false, errorf(a.pos, "tag :%s given more than once", a.tag)
	}
	r.seen[a.tag] = true
	return a.tag, a.pos, true, nil
}

func (r *argReader) unknownTag(tag string, pos Position) error {
	return errorf(pos, "unknown tag :%s for %s", tag, r.n.name)
}

// take consumes the next argument, which must be of kind k.
func (r *argReader) take(k argKind, what string, after Position) (argument, error) {
	if r.i >= len(r.n.args) {
		if after == (Position{}) {
			after = r.n.pos
		}
		return argument{}, errorf(after, "%s: missing %s", r.n.name, what)
	}
	a := r.n.args[r.i]
	if a.kind != k {
		return argument{}, errorf(a.pos, "%s: expected %s, found %s", r.n.name, what, describeArg(a))
	}
	r.i++
	return a, nil
}

func describeArg(a argument) string {
	switch a.kind {
	case argTag:
		return "tag :" + a.tag + " (tagged arguments come before positional ones)"
	case argNumber:
		return "a number"
	}
	if a.isList {
		return "a string list"
	}
	return "a string"
}

// number reads a number argument; after is the tag it belongs to, if any.
func (r *argReader) number(what string, after Position) (int64, error) {
	a, err := r.take(argNumber, what+" (a number)", after)
	return a.num, err
}

// rawString reads a single string that is used as written (never expanded): capability
// names, comparator names, relations, variable names.
func (r *argReader) rawString(what string, after Position) (string, Position, error) {
	a, err := r.take(argStrings, what+" (a string)", after)
	if err != nil {
		return "", a.pos, err
	}
	if a.isList && len(a.strs) != 1 {
		return "", a.pos, errorf(a.pos, "%s: %s must be a single string", r.n.name, what)
	}
	s, err := r.c.decode(a.strs[0], a.pos)
	return s, a.pos, err
}

// str reads a single string argument that variables may expand.
func (r *argReader) str(what string, after Position) (strExpr, error) {
	s, pos, err := r.rawString(what, after)
	if err != nil {
		return strExpr{}, err
	}
	return r.c.template(s, pos)
}

// list reads a string-list argument (a single string is a list of one).
func (r *argReader) list(what string, after Position) (strList, error) {
	a, err := r.take(argStrings, what+" (a string list)", after)
	if err != nil {
		return nil, err
	}
	out := make(strList, 0, len(a.strs))
	for _, s := range a.strs {
		d, err := r.c.decode(s, a.pos)
		if err != nil {
			return nil, err
		}
		t, err := r.c.template(d, a.pos)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// remaining reports how many arguments are left.
func (r *argReader) remaining() int { return len(r.n.args) - r.i }

// end checks that no argument is left over.
func (r *argReader) end() error {
	if r.i < len(r.n.args) {
		a := r.n.args[r.i]
		return errorf(a.pos, "%s: unexpected extra argument (%s)", r.n.name, describeArg(a))
	}
	return nil
}

// decode applies encoded-character (RFC 5228 2.4.2.4) when the script requires it.
func (c *compiler) decode(s string, pos Position) (string, error) {
	if !c.required["encoded-character"] {
		return s, nil
	}
	return decodeEncoded(s, pos)
}

// matchOpts gathers COMPARATOR, MATCH-TYPE and ADDRESS-PART tags.
type matchOpts struct {
	cmp     comparator
	cmpPos  Position
	kind    matchKind
	kindPos Position
	kindSet bool
	rel     relation
	part    addrPart
	partSet bool
}

// matchTag handles tag if it is a comparator or match type (or, with parts, an address
// part); handled is false for any other tag.
func (r *argReader) matchTag(o *matchOpts, tag string, pos Position, parts bool) (bool, error) {
	switch tag {
	case "comparator":
		name, npos, err := r.rawString("comparator name", pos)
		if err != nil {
			return true, err
		}
		cmp, ext, ok := comparatorByName(name)
		if !ok {
			return true, errorf(npos, "unknown comparator %q (RFC 5228 2.7.3)", name)
		}
		o.cmp, o.cmpPos = cmp, pos
		return true, r.c.needs(ext, npos, "comparator "+name)
	case "is", "contains", "matches", "regex", "count", "value":
		return true, r.matchType(o, tag, pos)
	}
	if p, ext, ok := addrPartByTag(tag); ok && parts {
		if o.partSet {
			return true, errorf(pos, "%s: only one address part may be given", r.n.name)
		}
		o.part, o.partSet = p, true
		return true, r.c.needs(ext, pos, ":"+tag)
	}
	return false, nil
}

func (r *argReader) matchType(o *matchOpts, tag string, pos Position) error {
	if o.kindSet {
		return errorf(pos, "%s: only one match type may be given", r.n.name)
	}
	o.kindSet, o.kindPos = true, pos
	switch tag {
	case "is":
		o.kind = mtIs
	case "contains":
		o.kind = mtContains
	case "matches":
		o.kind = mtMatches
	case "regex":
		o.kind = mtRegex
		return r.c.needs("regex", pos, ":regex")
	default:
		o.kind = mtValue
		if tag == "count" {
			o.kind = mtCount
		}
		if err := r.c.needs("relational", pos, ":"+tag); err != nil {
			return err
		}
		rel, rpos, err := r.rawString("relation", pos)
		if err != nil {
			return err
		}
		var ok bool
		if o.rel, ok = relationByName(rel); !ok {
			return errorf(rpos, "unknown relation %q (RFC 5231: gt, ge, lt, le, eq, ne)", rel)
		}
	}
	return nil
}

// matcher builds the matcher for keys, checking that the comparator supports the
// match type (RFC 4790 9.1: i;ascii-numeric has equality and ordering only) and
// compiling constant regular expressions now.
func (c *compiler) matcher(o matchOpts, keys strList) (*matcher, error) {
	if o.cmp == cmpNumeric && (o.kind == mtContains || o.kind == mtMatches || o.kind == mtRegex) {
		return nil, errorf(o.kindPos, "comparator i;ascii-numeric cannot be used with this match type")
	}
	m := &matcher{cmp: o.cmp, kind: o.kind, rel: o.rel, keys: keys}
	if o.kind != mtRegex {
		return m, nil
	}
	m.regexps = make([]*regexp.Regexp, len(keys))
	for i, k := range keys {
		if !k.constant() {
			continue
		}
		re, err := compileRegex(k.lit, o.cmp)
		if err != nil {
			return nil, errorf(k.pos, "invalid regular expression %q: %v", k.lit, err)
		}
		m.regexps[i] = re
	}
	return m, nil
}
