package imapserver

import (
	"context"
	"strings"

	"mailgrid/internal/store"
)

// listCmd is a parsed LIST (RFC 9051 6.3.9 with LIST-EXTENDED, RFC 5258) or LSUB.
type listCmd struct {
	lsub           bool
	ref            string
	patterns       []string
	selSubscribed  bool // selection option SUBSCRIBED
	selSpecialUse  bool // RFC 6154 5.1
	recursiveMatch bool
	retSubscribed  bool
	retChildren    bool
	retSpecialUse  bool
	status         []string // LIST-STATUS items (RFC 5819)
}

// cmdList: LIST and LSUB.
func cmdList(s *session, c *command) error {
	lc, err := s.parseList(c.name == "LSUB")
	if err != nil {
		return err
	}
	if len(lc.patterns) == 1 && lc.patterns[0] == "" && !lc.selSubscribed && !lc.selSpecialUse {
		// RFC 9051 6.3.9: the hierarchy delimiter and the root.
		s.w.raw("* " + c.name + ` (\Noselect) "/" ""` + "\r\n")
		return nil
	}
	boxes, err := s.st.Mailboxes(context.Background(), s.ref)
	if err != nil {
		return storeError(err, c.name)
	}
	matchers := make([]string, len(lc.patterns))
	for i, pat := range lc.patterns {
		matchers[i] = s.fullPattern(lc.ref, pat)
	}
	for i := range boxes {
		s.listOne(c.name, lc, boxes, i, matchers)
	}
	if lc.lsub {
		s.lsubNoselect(boxes, matchers)
	}
	return nil
}

// lsubNoselect writes the parents LSUB must show with \Noselect (RFC 3501 6.3.9): with
// "foo/bar" subscribed and "foo" not, LSUB "" "%" returns "foo" flagged \Noselect,
// since the "%" stops at the separator. A parent is listed once, when it matches a
// pattern that a subscribed inferior does not, and is not itself subscribed.
func (s *session) lsubNoselect(boxes []store.Mailbox, pats []string) {
	subscribed := map[string]bool{}
	for _, mb := range boxes {
		if mb.Subscribed {
			subscribed[mb.Name] = true
		}
	}
	done := map[string]bool{}
	for _, mb := range boxes {
		if !mb.Subscribed {
			continue
		}
		name := mb.Name
		for i := strings.LastIndex(name, store.MailboxSeparator); i > 0; i = strings.LastIndex(name[:i], store.MailboxSeparator) {
			parent := name[:i]
			if subscribed[parent] || done[parent] {
				continue
			}
			for _, p := range pats {
				if matchPattern(p, parent) && !matchPattern(p, name) {
					done[parent] = true
					s.w.raw(`* LSUB (\Noselect) "/" `)
					s.w.astr(s.encodeMailbox(parent))
					s.w.raw("\r\n")
					break
				}
			}
		}
	}
}

func (s *session) parseList(lsub bool) (*listCmd, error) {
	lc := &listCmd{lsub: lsub, selSubscribed: lsub}
	p := s.p
	if err := p.sp(); err != nil {
		return nil, err
	}
	if !lsub && p.peek() == '(' {
		if err := s.listSelectOpts(lc); err != nil {
			return nil, err
		}
		if err := p.sp(); err != nil {
			return nil, err
		}
	}
	ref, err := p.astring()
	if err != nil {
		return nil, err
	}
	lc.ref = ref
	if err := p.sp(); err != nil {
		return nil, err
	}
	if !lsub && p.peek() == '(' {
		err = p.list(func() error {
			pat, err := s.listMailbox()
			lc.patterns = append(lc.patterns, pat)
			return err
		})
	} else {
		var pat string
		pat, err = s.listMailbox()
		lc.patterns = append(lc.patterns, pat)
	}
	if err != nil {
		return nil, err
	}
	if !lsub && p.take(' ') {
		if err := s.listReturnOpts(lc); err != nil {
			return nil, err
		}
	}
	return lc, p.end()
}

// listMailbox reads a list-mailbox: a string or 1*list-char (atom chars, "%", "*", "]").
func (s *session) listMailbox() (string, error) {
	switch s.p.peek() {
	case '"', '{', '~':
		return s.p.string()
	}
	return s.p.word(func(c byte) bool { return isAtomChar(c) || c == '%' || c == '*' || c == ']' }, "mailbox pattern")
}

func (s *session) listSelectOpts(lc *listCmd) error {
	return s.p.list(func() error {
		a, err := s.p.atom()
		switch strings.ToUpper(a) {
		case "SUBSCRIBED":
			lc.selSubscribed, lc.retSubscribed = true, true
		case "SPECIAL-USE":
			lc.selSpecialUse, lc.retSpecialUse = true, true
		case "RECURSIVEMATCH":
			lc.recursiveMatch = true
		case "REMOTE":
		default:
			if err == nil {
				err = bad("unknown LIST selection option %s", a)
			}
		}
		return err
	})
}

func (s *session) listReturnOpts(lc *listCmd) error {
	a, err := s.p.atom()
	if err != nil || !strings.EqualFold(a, "RETURN") {
		return bad("expected RETURN")
	}
	if err := s.p.sp(); err != nil {
		return err
	}
	return s.p.list(func() error {
		a, err := s.p.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "SUBSCRIBED":
			lc.retSubscribed = true
		case "CHILDREN":
			lc.retChildren = true
		case "SPECIAL-USE":
			lc.retSpecialUse = true
		case "STATUS":
			if err := s.p.sp(); err != nil {
				return err
			}
			lc.status, err = s.statusItems()
			return err
		default:
			return bad("unknown LIST return option %s", a)
		}
		return nil
	})
}

// fullPattern joins reference and pattern (RFC 9051 6.3.9) and decodes it to the store's
// spelling. INBOX matches case-insensitively.
func (s *session) fullPattern(ref, pat string) string {
	full := pat
	if ref != "" && !strings.HasPrefix(pat, store.MailboxSeparator) {
		full = ref + pat
	}
	if !s.utf8Names() {
		if dec, err := decodeMUTF7(full); err == nil {
			full = dec
		}
	}
	first, rest, has := strings.Cut(full, store.MailboxSeparator)
	if strings.EqualFold(first, store.Inbox) {
		full = store.Inbox
		if has {
			full += store.MailboxSeparator + rest
		}
	}
	return full
}

// listOne writes the LIST (and LIST-STATUS) response of boxes[i] if it matches.
func (s *session) listOne(cmd string, lc *listCmd, boxes []store.Mailbox, i int, pats []string) {
	mb := boxes[i]
	matched := false
	for _, p := range pats {
		if matchPattern(p, mb.Name) {
			matched = true
			break
		}
	}
	if !matched {
		return
	}
	hasChildren, subChild := childInfo(boxes, i)
	selected := (!lc.selSubscribed || mb.Subscribed) && (!lc.selSpecialUse || mb.SpecialUse != "")
	childOnly := !selected && lc.recursiveMatch && lc.selSubscribed && subChild
	if !selected && !childOnly {
		return
	}
	var attrs []string
	if !childOnly || lc.lsub {
		if hasChildren {
			attrs = append(attrs, `\HasChildren`)
		} else {
			attrs = append(attrs, `\HasNoChildren`)
		}
		if mb.Subscribed && (lc.retSubscribed || lc.selSubscribed) && !lc.lsub {
			attrs = append(attrs, `\Subscribed`)
		}
		if mb.SpecialUse != "" && !lc.lsub {
			attrs = append(attrs, mb.SpecialUse) // RFC 6154 2
		}
	}
	s.w.raw("* " + cmd + " (" + strings.Join(attrs, " ") + `) "/" `)
	s.w.astr(s.encodeMailbox(mb.Name))
	if childOnly {
		s.w.raw(` ("CHILDINFO" ("SUBSCRIBED"))`) // RFC 5258 3.5
	}
	s.w.raw("\r\n")
	if len(lc.status) > 0 && !childOnly {
		if err := s.writeStatus(mb, lc.status); err != nil {
			s.log.Warn("LIST-STATUS", "mailbox", mb.Name, "err", err)
		}
	}
}

// childInfo reports whether boxes[i] has inferiors, and whether one is subscribed.
// boxes is ordered by name, so the inferiors follow it.
func childInfo(boxes []store.Mailbox, i int) (children, subscribed bool) {
	prefix := boxes[i].Name + store.MailboxSeparator
	for j := range boxes {
		if strings.HasPrefix(boxes[j].Name, prefix) {
			children = true
			if boxes[j].Subscribed {
				return true, true
			}
		}
	}
	return children, false
}

// matchPattern matches name against a LIST pattern: "*" matches anything, "%" anything
// but the hierarchy separator (RFC 9051 6.3.9). Dynamic programming over the pattern keeps
// it linear in len(pat)*len(name) whatever the wildcards.
func matchPattern(pat, name string) bool {
	cur := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	cur[0] = true
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch c {
		case '*':
			any := false
			for j := 0; j <= len(name); j++ {
				any = any || cur[j]
				next[j] = any
			}
		case '%':
			any := false
			for j := 0; j <= len(name); j++ {
				if j > 0 && name[j-1] == '/' {
					any = false
				}
				any = any || cur[j]
				next[j] = any
			}
		default:
			next[0] = false
			for j := 1; j <= len(name); j++ {
				next[j] = cur[j-1] && name[j-1] == c
			}
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}
