package imapserver

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// sortInfo is what SORT and THREAD keep of a matching message (RFC 5256); the rest of
// its cached Info is dropped as soon as the message is read.
type sortInfo struct {
	uid        store.UID
	seq        uint32
	arrival    time.Time
	sent       time.Time
	size       int64
	subject    string // base subject (RFC 5256 2.1)
	isReply    bool   // the subject had a "Re:"-like leader (RFC 5256 5)
	from       string // first addr-mailbox, lower case
	to, cc     string
	messageID  string
	references []string // References, or the first In-Reply-To id
}

// metaInfo is the part of message.Info (same JSON names) SORT and THREAD read.
type metaInfo struct {
	Envelope   message.Envelope `json:"env"`
	Date       time.Time        `json:"date"`
	Subject    string           `json:"subject"`
	MessageID  string           `json:"msgid"`
	InReplyTo  string           `json:"inreplyto"`
	References []string         `json:"references"`
}

func (s *session) sortInfoOf(m store.Message) sortInfo {
	si := sortInfo{uid: m.UID, seq: s.sel.seq(m.UID), arrival: m.InternalDate, size: m.Size}
	var mi metaInfo
	if len(m.Meta) > 0 {
		if err := json.Unmarshal(m.Meta, &mi); err != nil {
			s.log.Debug("sort: bad meta", "uid", m.UID, "err", err)
		}
	}
	si.sent = mi.Date
	if si.sent.IsZero() {
		si.sent = m.InternalDate // RFC 5256 2.2: no valid Date: the internal date
	}
	si.subject, si.isReply = baseSubject(mi.Subject)
	first := func(l []message.Address) string {
		if len(l) == 0 {
			return ""
		}
		return strings.ToLower(l[0].Mailbox)
	}
	si.from, si.to, si.cc = first(mi.Envelope.From), first(mi.Envelope.To), first(mi.Envelope.Cc)
	si.messageID = mi.MessageID
	si.references = mi.References
	if len(si.references) == 0 && mi.InReplyTo != "" {
		si.references = []string{mi.InReplyTo}
	}
	return si
}

// collectSorted runs the search and returns the sort records of the matches.
func (s *session) collectSorted() ([]sortInfo, error) {
	if err := s.p.sp(); err != nil {
		return nil, err
	}
	cs, err := s.p.astring()
	if err != nil {
		return nil, err
	}
	if err := s.p.sp(); err != nil {
		return nil, err
	}
	key, err := s.searchKeys()
	if err != nil {
		return nil, err
	}
	if err := s.p.end(); err != nil {
		return nil, err
	}
	if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
		return nil, no("BADCHARSET (UTF-8 US-ASCII)", "charset not supported")
	}
	var out []sortInfo
	_, _, err = s.runSearch(key, func(m store.Message) { out = append(out, s.sortInfoOf(m)) })
	return out, err
}

type sortCrit struct {
	key     string
	reverse bool
}

// cmdSort: SORT and UID SORT (RFC 5256 3). Ties are broken by sequence number.
func cmdSort(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	var crits []sortCrit
	reverse := false
	err := s.p.list(func() error {
		a, err := s.p.atom()
		if err != nil {
			return err
		}
		a = strings.ToUpper(a)
		switch a {
		case "REVERSE":
			if reverse {
				return bad("REVERSE twice")
			}
			reverse = true
			return s.p.peekNotEnd()
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO":
			crits = append(crits, sortCrit{key: a, reverse: reverse})
			reverse = false
			return nil
		}
		return bad("unknown sort key %s", a)
	})
	if err == nil && (len(crits) == 0 || reverse) {
		err = bad("bad sort criteria")
	}
	if err != nil {
		return err
	}
	infos, err := s.collectSorted()
	if err != nil {
		return err
	}
	slices.SortStableFunc(infos, func(a, b sortInfo) int {
		for _, cr := range crits {
			if r := compareSort(cr.key, a, b); r != 0 {
				if cr.reverse {
					return -r
				}
				return r
			}
		}
		return cmpU(a.seq, b.seq)
	})
	s.w.raw("* SORT")
	for _, si := range infos {
		s.w.byte(' ')
		if c.uid {
			s.w.num(uint64(si.uid))
		} else {
			s.w.num(uint64(si.seq))
		}
	}
	s.w.raw("\r\n")
	return nil
}

func compareSort(key string, a, b sortInfo) int {
	switch key {
	case "ARRIVAL":
		return a.arrival.Compare(b.arrival)
	case "DATE":
		return a.sent.Compare(b.sent)
	case "SIZE":
		return cmpU(a.size, b.size)
	case "SUBJECT":
		return strings.Compare(a.subject, b.subject)
	case "FROM":
		return strings.Compare(a.from, b.from)
	case "TO":
		return strings.Compare(a.to, b.to)
	case "CC":
		return strings.Compare(a.cc, b.cc)
	}
	return 0
}

func cmpU[T int64 | uint32](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// peekNotEnd fails when a list ends right after REVERSE.
func (p *parser) peekNotEnd() error {
	if p.peek() == ')' {
		return bad("REVERSE needs a sort key")
	}
	return nil
}

// baseSubject extracts the base subject (RFC 5256 2.1) of a decoded subject, folded for
// comparison, and reports whether a reply or forward leader was removed.
func baseSubject(subj string) (string, bool) {
	s := strings.Join(strings.FieldsFunc(subj, unicode.IsSpace), " ") // (1) whitespace
	reply := false
	for {
		prev := s
		for { // (2) trailing "(fwd)"
			t := strings.TrimSpace(s)
			if !strings.HasSuffix(strings.ToLower(t), "(fwd)") {
				s = t
				break
			}
			s, reply = t[:len(t)-5], true
		}
		for { // (3), (4) leaders and blobs
			n, refwd, ok := stripLeader(s)
			if !ok {
				break
			}
			s, reply = n, reply || refwd
		}
		low := strings.ToLower(s) // (6) [fwd: ...]
		if strings.HasPrefix(low, "[fwd:") && strings.HasSuffix(s, "]") {
			s, reply = strings.TrimSpace(s[5:len(s)-1]), true
		}
		if s == prev {
			break
		}
	}
	return strings.ToLower(s), reply
}

// stripLeader removes one subj-blob or subj-refwd ("re", "fw", "fwd", optional blob,
// ":") from the start of s (RFC 5256 5 ABNF); refwd reports the latter.
func stripLeader(s string) (rest string, refwd, ok bool) {
	low := strings.ToLower(s)
	for _, p := range []string{"re", "fwd", "fw"} {
		if !strings.HasPrefix(low, p) {
			continue
		}
		rest := strings.TrimLeft(s[len(p):], " \t")
		if strings.HasPrefix(rest, "[") {
			if i := strings.IndexByte(rest, ']'); i >= 0 {
				rest = strings.TrimLeft(rest[i+1:], " \t")
			}
		}
		if strings.HasPrefix(rest, ":") {
			return strings.TrimLeft(rest[1:], " \t"), true, true
		}
	}
	if strings.HasPrefix(s, "[") { // a blob, unless it is all that is left
		if i := strings.IndexByte(s, ']'); i >= 0 {
			if rest := strings.TrimLeft(s[i+1:], " \t"); rest != "" {
				return rest, false, true
			}
		}
	}
	return s, false, false
}
