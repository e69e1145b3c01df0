package sieve

import (
	"html"
	"io"
	"strings"
)

type bodyTransform uint8

const (
	bodyText    bodyTransform = iota // :text, the default (RFC 5173 5.3)
	bodyRaw                          // :raw (RFC 5173 5.1)
	bodyContent                      // :content <types> (RFC 5173 5.2)
)

// bodyTest is "body [COMPARATOR] [MATCH-TYPE] [BODY-TRANSFORM] <key-list>" (RFC 5173).
type bodyTest struct {
	transform bodyTransform
	types     strList
	m         *matcher
}

func (c *compiler) body(n *node) (test, error) {
	if err := c.needs("body", n.pos, "body"); err != nil {
		return nil, err
	}
	r := c.args(n)
	var o matchOpts
	t := &bodyTest{}
	transformSet := false
	for {
		tag, pos, ok, err := r.nextTag()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if handled, err := r.matchTag(&o, tag, pos, false); handled || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if tag != "raw" && tag != "content" && tag != "text" {
			return nil, r.unknownTag(tag, pos)
		}
		if transformSet {
			return nil, errorf(pos, "body: only one of :raw, :content, :text may be given")
		}
		transformSet = true
		switch tag {
		case "raw":
			t.transform = bodyRaw
		case "content":
			t.transform = bodyContent
			if t.types, err = r.list("content types", pos); err != nil {
				return nil, err
			}
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

func (t *bodyTest) eval(m *machine) (bool, error) {
	if m.body == nil {
		m.body = &bodyCache{budget: m.lim.MaxBodyBytes}
	}
	var values []string
	var err error
	switch t.transform {
	case bodyRaw:
		values, err = m.body.raw(m.msg)
	case bodyContent:
		values, err = m.body.content(m.msg, m.expandList(t.types), false)
	default:
		values, err = m.body.content(m.msg, nil, true)
	}
	if err != nil {
		return false, runtimeErr(Position{}, "body: %v", err)
	}
	return t.m.test(m, values)
}

// bodyCache holds what the body test has read in one run. budget bounds the bytes
// read in all (Limits.MaxBodyBytes); content past it is not tested.
type bodyCache struct {
	budget  int64
	rawBody *string
	parts   []Part
	loaded  []*string
	listed  bool
}

func (b *bodyCache) read(open func() (io.Reader, error)) (string, error) {
	if b.budget <= 0 {
		return "", nil
	}
	r, err := open()
	if err != nil {
		return "", err
	}
	data, err := io.ReadAll(io.LimitReader(r, b.budget))
	b.budget -= int64(len(data))
	return string(data), err
}

func (b *bodyCache) raw(msg Message) ([]string, error) {
	if b.rawBody == nil {
		s, err := b.read(msg.Body)
		if err != nil {
			return nil, err
		}
		b.rawBody = &s
	}
	return []string{*b.rawBody}, nil
}

// content returns the decoded content of the parts whose type matches one of types
// (RFC 5173 5.2: "" is every part, "text" every text/* part, "text/html" exactly that)
// or, for :text, of every text part with HTML reduced to its text (RFC 5173 5.3).
func (b *bodyCache) content(msg Message, types []string, text bool) ([]string, error) {
	if !b.listed {
		parts, err := msg.Parts()
		if err != nil {
			return nil, err
		}
		b.parts, b.loaded, b.listed = parts, make([]*string, len(parts)), true
	}
	var out []string
	for i, p := range b.parts {
		if text && p.Type != "text" || !text && !typeMatches(p, types) {
			continue
		}
		if b.loaded[i] == nil {
			s, err := b.read(p.Open)
			if err != nil {
				return nil, err
			}
			if text && p.Subtype == "html" {
				s = htmlText(s)
			}
			b.loaded[i] = &s
		}
		out = append(out, *b.loaded[i])
	}
	return out, nil
}

func typeMatches(p Part, types []string) bool {
	for _, t := range types {
		typ, sub, hasSub := strings.Cut(strings.ToLower(strings.TrimSpace(t)), "/")
		switch {
		case typ == "":
			return true
		case typ == p.Type && (!hasSub || sub == p.Subtype):
			return true
		}
	}
	return false
}

// htmlText reduces HTML to its text: tags dropped (with the content of script and
// style), entities decoded, a space where a tag was.
func htmlText(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			b.WriteString(html.UnescapeString(s))
			break
		}
		b.WriteString(html.UnescapeString(s[:lt]))
		s = s[lt:]
		gt := strings.IndexByte(s, '>')
		if gt < 0 {
			break
		}
		tag := strings.ToLower(s[1:gt])
		s = s[gt+1:]
		for _, skip := range []string{"script", "style"} {
			if strings.HasPrefix(tag, skip) {
				if end := strings.Index(strings.ToLower(s), "</"+skip); end >= 0 {
					s = s[end:]
				} else {
					s = ""
				}
			}
		}
		b.WriteByte(' ')
	}
	return b.String()
}
