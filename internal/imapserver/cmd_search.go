package imapserver

import (
	"slices"
	"strconv"
	"strings"

	"mailgrid/internal/store"
)

// searchReturn holds ESEARCH return options (RFC 4731 3.1) and SAVE (RFC 5182 2).
type searchReturn struct {
	given                bool // RETURN (...) was present: answer with ESEARCH
	min, max, all, count bool
	save                 bool
}

// cmdSearch: SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH (RFC 4731), SEARCHRES
// (RFC 5182) and MODSEQ (RFC 7162 3.1.5). Under IMAP4rev2 results are always ESEARCH.
func cmdSearch(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	ret, err := s.searchReturnOpts()
	if err != nil {
		return err
	}
	key, err := s.searchCriteria()
	if err != nil {
		return err
	}
	hits, highest, err := s.runSearch(key, nil)
	if err != nil {
		return err
	}
	if ret.save {
		s.saveResult(hits, ret)
	}
	if ret.given || s.enabled.rev2 {
		if !ret.given {
			ret.all = true // RFC 9051 6.4.4: no return option means ALL
		}
		if ret.save && !ret.min && !ret.max && !ret.all && !ret.count {
			return nil // RFC 5182 2.1: SAVE alone returns nothing
		}
		s.writeESearch(c, ret, hits, highest, key.usesModSeq())
		return nil
	}
	s.w.raw("* SEARCH")
	for _, h := range hits {
		s.w.byte(' ')
		if c.uid {
			s.w.num(uint64(h.UID))
		} else {
			s.w.num(uint64(s.sel.seq(h.UID)))
		}
	}
	if key.usesModSeq() && len(hits) > 0 {
		s.w.printf(" (MODSEQ %d)", highest) // RFC 7162 3.1.5
	}
	s.w.raw("\r\n")
	return nil
}

// searchReturnOpts parses [RETURN (opts) SP].
func (s *session) searchReturnOpts() (searchReturn, error) {
	var r searchReturn
	if len(s.p.line)-s.p.pos < 7 || !strings.EqualFold(string(s.p.line[s.p.pos:s.p.pos+7]), "RETURN ") {
		return r, nil
	}
	s.p.pos += 7
	r.given = true
	err := s.p.list(func() error {
		a, err := s.p.atom()
		switch strings.ToUpper(a) {
		case "MIN":
			r.min = true
		case "MAX":
			r.max = true
		case "ALL":
			r.all = true
		case "COUNT":
			r.count = true
		case "SAVE":
			r.save = true
		default:
			if err == nil {
				err = bad("unknown SEARCH return option %s", a)
			}
		}
		return err
	})
	if err == nil && !r.min && !r.max && !r.count && !r.save {
		r.all = true // RFC 4731 3.1: RETURN () means ALL
	}
	if err == nil {
		err = s.p.sp()
	}
	return r, err
}

// searchCriteria parses [CHARSET name SP] keys CRLF. Strings are UTF-8 (or ASCII);
// other charsets are refused with BADCHARSET (RFC 9051 6.4.4).
func (s *session) searchCriteria() (*searchKey, error) {
	if len(s.p.line)-s.p.pos >= 8 && strings.EqualFold(string(s.p.line[s.p.pos:s.p.pos+8]), "CHARSET ") {
		s.p.pos += 8
		cs, err := s.p.astring()
		if err != nil {
			return nil, err
		}
		if err := s.p.sp(); err != nil {
			return nil, err
		}
		if !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "US-ASCII") {
			if _, err := s.searchKeys(); err != nil {
				return nil, err
			}
			return nil, no("BADCHARSET (UTF-8 US-ASCII)", "charset not supported")
		}
	}
	key, err := s.searchKeys()
	if err != nil {
		return nil, err
	}
	return key, s.p.end()
}

func (k *searchKey) usesModSeq() bool {
	if k.op == "MODSEQ" {
		return true
	}
	return slices.ContainsFunc(k.kids, (*searchKey).usesModSeq)
}

// runSearch evaluates key over the selected mailbox and returns the matches in UID (and
// so sequence) order with the highest modseq among them, without their Meta; onHit, if
// set, sees each match with its Meta first (SORT and THREAD keep what they need).
func (s *session) runSearch(key *searchKey, onHit func(store.Message)) ([]store.Message, uint64, error) {
	v := s.sel
	if len(v.uids) == 0 {
		return nil, 0, nil
	}
	var hits []store.Message
	var highest uint64
	maxSeq := uint32(len(v.uids))
	if err := s.useTextIndex(key); err != nil {
		return nil, 0, err
	}
	uids := key.candidates(slices.Clone(v.uids))
	if len(uids) > 0 {
		if err := s.useHeaderIndex(key, uids[0], uids[len(uids)-1]); err != nil {
			return nil, 0, err
		}
		uids = key.candidates(uids)
	}
	key.cheapFirst()
	info, blob := key.needs()
	if onHit == nil && key.onlyIndexed() {
		// The index answered everything: no message row to read.
		hits := make([]store.Message, len(uids))
		for i, u := range uids {
			hits[i] = store.Message{UID: u}
		}
		return hits, 0, nil
	}
	uids, decided := s.flagCandidates(key, uids)
	if onHit == nil && decided {
		// The flags answered everything (no MODSEQ key among them): no row to read.
		hits := make([]store.Message, len(uids))
		for i, u := range uids {
			hits[i] = store.Message{UID: u}
		}
		return hits, 0, nil
	}
	err := s.eachMessage(uids, 0, onHit == nil && !info && !blob, func(m store.Message) error {
		sm := &searchMsg{s: s, m: m, seq: v.seq(m.UID), maxSeq: maxSeq}
		defer sm.close()
		if sm.seq == 0 || !sm.match(key) {
			return nil
		}
		if onHit != nil {
			onHit(m)
		}
		m.Meta = nil
		hits = append(hits, m)
		highest = max(highest, m.ModSeq)
		return nil
	})
	if err != nil {
		return nil, 0, storeError(err, "SEARCH")
	}
	return hits, highest, nil
}

// saveResult keeps the result for "$" (RFC 5182 2.1): only MIN/MAX when those alone
// are asked with SAVE.
func (s *session) saveResult(hits []store.Message, r searchReturn) {
	s.saved = nil
	if len(hits) == 0 {
		return
	}
	if (r.min || r.max) && !r.all && !r.count {
		if r.min {
			s.saved = append(s.saved, hits[0].UID)
		}
		if r.max && (!r.min || len(hits) > 1) {
			s.saved = append(s.saved, hits[len(hits)-1].UID)
		}
		return
	}
	for _, h := range hits {
		s.saved = append(s.saved, h.UID)
	}
}

// writeESearch writes "* ESEARCH (TAG "t") [UID] ..." (RFC 4731 3.1, RFC 9051 7.3.4).
func (s *session) writeESearch(c *command, r searchReturn, hits []store.Message, highest uint64, modseq bool) {
	s.w.raw(`* ESEARCH (TAG `)
	s.w.str(c.tag)
	s.w.raw(")")
	if c.uid {
		s.w.raw(" UID")
	}
	num := func(m store.Message) uint32 {
		if c.uid {
			return uint32(m.UID)
		}
		return s.sel.seq(m.UID)
	}
	if len(hits) > 0 {
		if r.min {
			s.w.raw(" MIN " + strconv.FormatUint(uint64(num(hits[0])), 10))
		}
		if r.max {
			s.w.raw(" MAX " + strconv.FormatUint(uint64(num(hits[len(hits)-1])), 10))
		}
	}
	if r.count {
		s.w.printf(" COUNT %d", len(hits))
	}
	if r.all && len(hits) > 0 {
		ns := make([]uint32, len(hits))
		for i, h := range hits {
			ns[i] = num(h)
		}
		s.w.raw(" ALL " + numSetString(ns))
	}
	if modseq && len(hits) > 0 {
		s.w.printf(" MODSEQ %d", highest)
	}
	s.w.raw("\r\n")
}
