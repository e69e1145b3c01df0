package imapserver

import (
	"slices"
	"strconv"
	"strings"
)

// thread is a node of a THREAD result: a message, or a dummy (msg nil) standing for a
// referenced message that is not in the result (RFC 5256 3).
type thread struct {
	msg      *sortInfo
	parent   *thread
	children []*thread
}

// date is the sent date a node sorts by: its message's, or a dummy's first child's.
func (t *thread) first() *sortInfo {
	for n := t; n != nil; {
		if n.msg != nil {
			return n.msg
		}
		if len(n.children) == 0 {
			return nil
		}
		n = n.children[0]
	}
	return nil
}

func sortThreads(l []*thread) {
	slices.SortStableFunc(l, func(a, b *thread) int {
		fa, fb := a.first(), b.first()
		if fa == nil || fb == nil {
			return 0
		}
		if r := fa.sent.Compare(fb.sent); r != 0 {
			return r
		}
		return cmpU(fa.seq, fb.seq)
	})
}

// cmdThread: THREAD and UID THREAD with ORDEREDSUBJECT and REFERENCES (RFC 5256 3).
func cmdThread(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	alg, err := s.p.atom()
	if err != nil {
		return err
	}
	alg = strings.ToUpper(alg)
	if alg != "ORDEREDSUBJECT" && alg != "REFERENCES" {
		return bad("unknown threading algorithm %s", alg)
	}
	infos, err := s.collectSorted()
	if err != nil {
		return err
	}
	var roots []*thread
	if alg == "ORDEREDSUBJECT" {
		roots = orderedSubject(infos)
	} else {
		roots = references(infos)
	}
	var b strings.Builder
	for _, r := range roots {
		b.WriteByte('(')
		writeThread(&b, r, c.uid)
		b.WriteByte(')')
	}
	s.w.raw("* THREAD " + b.String() + "\r\n")
	return nil
}

// writeThread formats a node (RFC 5256 4): a chain of single children is written flat,
// several children each in parentheses.
func writeThread(b *strings.Builder, t *thread, uid bool) {
	for {
		if t.msg != nil {
			if uid {
				b.WriteString(strconv.FormatUint(uint64(t.msg.uid), 10))
			} else {
				b.WriteString(strconv.FormatUint(uint64(t.msg.seq), 10))
			}
		}
		switch len(t.children) {
		case 0:
			return
		case 1:
			if t.msg != nil {
				b.WriteByte(' ')
			}
			t = t.children[0]
			continue
		}
		if t.msg != nil {
			b.WriteByte(' ')
		}
		for _, ch := range t.children {
			b.WriteByte('(')
			writeThread(b, ch, uid)
			b.WriteByte(')')
		}
		return
	}
}

// orderedSubject groups by base subject; the first message (by sent date) of a group is
// the parent of the others (RFC 5256 3, ORDEREDSUBJECT).
func orderedSubject(infos []sortInfo) []*thread {
	slices.SortStableFunc(infos, func(a, b sortInfo) int {
		if r := strings.Compare(a.subject, b.subject); r != 0 {
			return r
		}
		if r := a.sent.Compare(b.sent); r != 0 {
			return r
		}
		return cmpU(a.seq, b.seq)
	})
	var roots []*thread
	for i := range infos {
		n := &thread{msg: &infos[i]}
		if k := len(roots); k > 0 && roots[k-1].msg.subject == infos[i].subject {
			roots[k-1].children = append(roots[k-1].children, n)
			continue
		}
		roots = append(roots, n)
	}
	sortThreads(roots)
	return roots
}

// references threads by Message-ID, References and In-Reply-To (RFC 5256 3, REFERENCES).
func references(infos []sortInfo) []*thread {
	byID := map[string]*thread{}
	node := func(id string) *thread {
		if t, ok := byID[id]; ok {
			return t
		}
		t := &thread{}
		byID[id] = t
		return t
	}
	for i := range infos {
		m := &infos[i]
		id := m.messageID
		if id == "" || (byID[id] != nil && byID[id].msg != nil) {
			id = "\x00dup" + strconv.Itoa(i) // missing or duplicate: unique (1.A)
		}
		self := node(id)
		self.msg = m
		var prev *thread
		for _, ref := range m.references { // (1.B) link the references in order
			r := node(ref)
			if prev != nil && r.parent == nil && !isAncestor(r, prev) && r != prev {
				link(prev, r)
			}
			prev = r
		}
		// (1.C) the message's parent is its last reference
		if self.parent != nil {
			unlink(self)
		}
		if prev != nil && prev != self && !isAncestor(self, prev) {
			link(prev, self)
		}
	}
	var roots []*thread
	for _, t := range byID {
		if t.parent == nil {
			roots = append(roots, t)
		}
	}
	roots = prune(roots, true)
	sortTree(roots)
	roots = mergeSubjects(roots)
	sortTree(roots)
	return roots
}

func link(parent, child *thread) {
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(t *thread) {
	p := t.parent
	p.children = slices.DeleteFunc(p.children, func(c *thread) bool { return c == t })
	t.parent = nil
}

// isAncestor reports whether a is t or an ancestor of t.
func isAncestor(a, t *thread) bool {
	for n := t; n != nil; n = n.parent {
		if n == a {
			return true
		}
	}
	return false
}

// prune removes dummies without children and promotes the children of other dummies,
// except a root dummy with several children (RFC 5256 3, step 3).
func prune(l []*thread, root bool) []*thread {
	var out []*thread
	for _, t := range l {
		t.children = prune(t.children, false)
		if t.msg != nil {
			out = append(out, t)
			continue
		}
		switch {
		case len(t.children) == 0:
		case root && len(t.children) > 1:
			out = append(out, t)
		default:
			for _, c := range t.children {
				c.parent = t.parent
				out = append(out, c)
			}
		}
	}
	return out
}

func sortTree(l []*thread) {
	for _, t := range l {
		sortTree(t.children)
	}
	sortThreads(l)
}

// mergeSubjects gathers roots with the same base subject (RFC 5256 3, step 5).
func mergeSubjects(roots []*thread) []*thread {
	bySubj := map[string]*thread{}
	var out []*thread
	for _, r := range roots {
		f := r.first()
		if f == nil || f.subject == "" {
			out = append(out, r)
			continue
		}
		old, ok := bySubj[f.subject]
		if !ok {
			bySubj[f.subject] = r
			out = append(out, r)
			continue
		}
		of := old.first()
		switch {
		case old.msg == nil && r.msg == nil:
			for _, c := range r.children {
				link(old, c)
			}
		case old.msg == nil:
			link(old, r)
		case r.msg == nil:
			link(r, old)
			replace(out, old, r)
			bySubj[f.subject] = r
		case of.isReply == f.isReply || (!of.isReply && f.isReply):
			if of.isReply == f.isReply {
				d := &thread{}
				link(d, old)
				link(d, r)
				replace(out, old, d)
				bySubj[f.subject] = d
			} else {
				link(old, r)
			}
		default:
			link(r, old)
			replace(out, old, r)
			bySubj[f.subject] = r
		}
	}
	return out
}

func replace(l []*thread, old, n *thread) {
	for i := range l {
		if l[i] == old {
			l[i] = n
			return
		}
	}
}
