package imapserver

import (
	"strings"
	"time"

	"mailgrid/internal/store"
)

// searchKey is one node of a parsed SEARCH criteria tree (RFC 9051 6.4.4).
type searchKey struct {
	op    string // upper-case key name; "AND" for a parenthesised list; "SEQ" for a set
	str   string // string argument; header field name for HEADER
	str2  string // HEADER's value
	flag  string
	date  time.Time
	n     uint64
	set   seqSet
	kids  []*searchKey
	uidOp bool // SEQ set holds UIDs (the UID key)

	// indexed: a BODY or TEXT key answered by the store's text index, or a FROM, TO,
	// CC, BCC or SUBJECT key by its header text (search_index.go); hits are the
	// matching UIDs, ascending.
	indexed bool
	hits    []store.UID
}

// maxSearchDepth bounds nesting of NOT/OR/parentheses.
const maxSearchDepth = 100

// searchKeys parses one or more search keys (an implicit AND) to the end of the command.
func (s *session) searchKeys() (*searchKey, error) {
	root := &searchKey{op: "AND"}
	for {
		k, err := s.searchKey(0)
		if err != nil {
			return nil, err
		}
		root.kids = append(root.kids, k)
		if !s.p.take(' ') {
			return root, nil
		}
	}
}

func (s *session) searchKey(depth int) (*searchKey, error) {
	p := s.p
	if depth > maxSearchDepth {
		return nil, bad("search criteria nested too deeply")
	}
	switch c := p.peek(); {
	case c == '(':
		k := &searchKey{op: "AND"}
		err := p.list(func() error {
			kid, err := s.searchKey(depth + 1)
			k.kids = append(k.kids, kid)
			return err
		})
		if err == nil && len(k.kids) == 0 {
			err = bad("empty search key list")
		}
		return k, err
	case c >= '0' && c <= '9' || c == '*' || c == '$':
		set, err := p.seqSet()
		return &searchKey{op: "SEQ", set: set}, err
	}
	w, err := p.atom()
	if err != nil {
		return nil, err
	}
	k := &searchKey{op: strings.ToUpper(w)}
	switch k.op {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN", "NEW", "OLD", "RECENT",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return k, nil
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		err = s.searchArg(func() (err error) { k.str, err = p.astring(); return })
	case "HEADER":
		err = s.searchArg(func() (err error) {
			if k.str, err = p.astring(); err == nil {
				if err = p.sp(); err == nil {
					k.str2, err = p.astring()
				}
			}
			return
		})
	case "KEYWORD", "UNKEYWORD":
		err = s.searchArg(func() (err error) { k.flag, err = p.atom(); return })
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		err = s.searchArg(func() (err error) { k.date, err = s.searchDate(); return })
	case "LARGER", "SMALLER":
		err = s.searchArg(func() (err error) { k.n, err = p.number64(); return })
	case "UID":
		k.op, k.uidOp = "SEQ", true
		err = s.searchArg(func() (err error) { k.set, err = p.seqSet(); return })
	case "NOT", "OR":
		err = s.searchArg(func() error { return s.searchSubKeys(k, depth) })
	case "MODSEQ": // RFC 7162 3.1.5
		err = s.searchArg(func() (err error) { k.n, err = s.searchModSeq(); return })
		s.enabled.condstore = true
	default:
		return nil, bad("unknown search key %s", truncate(w, 30))
	}
	return k, err
}

// searchSubKeys parses NOT's key or OR's two keys.
func (s *session) searchSubKeys(k *searchKey, depth int) error {
	a, err := s.searchKey(depth + 1)
	k.kids = []*searchKey{a}
	if err != nil || k.op == "NOT" {
		return err
	}
	if err := s.p.sp(); err != nil {
		return err
	}
	b, err := s.searchKey(depth + 1)
	k.kids = append(k.kids, b)
	return err
}

// searchModSeq parses [entry-name SP entry-type-req SP] mod-sequence-valzer.
func (s *session) searchModSeq() (uint64, error) {
	p := s.p
	if p.peek() == '"' {
		if _, err := p.quoted(); err != nil {
			return 0, err
		}
		if err := p.sp(); err != nil {
			return 0, err
		}
		if _, err := p.atom(); err != nil {
			return 0, err
		}
		if err := p.sp(); err != nil {
			return 0, err
		}
	}
	return p.number64()
}

func (s *session) searchArg(fn func() error) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	return fn()
}

// searchDate parses date (RFC 9051 9): d-Mon-yyyy, optionally quoted.
func (s *session) searchDate() (time.Time, error) {
	var txt string
	var err error
	if s.p.peek() == '"' {
		txt, err = s.p.quoted()
	} else {
		txt, err = s.p.word(func(c byte) bool { return isAtomChar(c) }, "date")
	}
	if err != nil {
		return time.Time{}, err
	}
	t, perr := time.Parse("_2-Jan-2006", strings.TrimSpace(txt))
	if perr != nil {
		if t, perr = time.Parse("2-Jan-2006", txt); perr != nil {
			return time.Time{}, bad("invalid date %s", truncate(txt, 20))
		}
	}
	return t, nil
}
