package imapserver

import (
	"context"
	"slices"
	"strings"

	"mailgrid/internal/store"
)

// cmdStore: STORE and UID STORE (RFC 9051 6.4.6) with UNCHANGEDSINCE (RFC 7162 3.1.3).
func cmdStore(s *session, c *command) error {
	p := s.p
	if err := p.sp(); err != nil {
		return err
	}
	set, err := p.seqSet()
	if err != nil {
		return err
	}
	if err := p.sp(); err != nil {
		return err
	}
	var u store.FlagUpdate
	conditional := false
	if p.peek() == '(' {
		err := p.list(func() error {
			a, err := p.atom()
			if err != nil || !strings.EqualFold(a, "UNCHANGEDSINCE") {
				return bad("unknown STORE modifier")
			}
			if err := p.sp(); err != nil {
				return err
			}
			conditional = true
			u.UnchangedSince, err = p.number64()
			return err
		})
		if err != nil {
			return err
		}
		if err := p.sp(); err != nil {
			return err
		}
	}
	silent, err := s.storeAtt(&u)
	if err != nil {
		return err
	}
	if err := p.end(); err != nil {
		return err
	}
	if s.sel.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	if conditional {
		s.enabled.condstore = true
	}
	if u.UIDs, err = s.resolve(set, c.uid); err != nil {
		return err
	}
	return s.applyStore(c, u, conditional, silent)
}

// storeAtt parses ["+"/"-"] "FLAGS" [".SILENT"] SP flags.
func (s *session) storeAtt(u *store.FlagUpdate) (silent bool, err error) {
	p := s.p
	u.Op = store.FlagsSet
	if p.take('+') {
		u.Op = store.FlagsAdd
	} else if p.take('-') {
		u.Op = store.FlagsRemove
	}
	w, err := p.word(isFetchNameChar, "FLAGS")
	if err != nil {
		return false, err
	}
	switch strings.ToUpper(w) {
	case "FLAGS":
	case "FLAGS.SILENT":
		silent = true
	default:
		return false, bad("expected FLAGS")
	}
	if err := p.sp(); err != nil {
		return false, err
	}
	u.Flags, err = s.flagList(p.peek() == '(')
	return silent, err
}

// flagList parses a flag-list "(...)" or, for STORE, flags separated by spaces. System
// flags are canonicalised; \Recent cannot be stored (RFC 9051 2.3.2) and other unknown
// system flags are refused.
func (s *session) flagList(paren bool) ([]string, error) {
	var flags []string
	one := func() error {
		f, err := s.p.flag()
		if err != nil {
			return err
		}
		if strings.HasPrefix(f, `\`) {
			canon := ""
			for _, sf := range []string{store.FlagSeen, store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagDraft} {
				if strings.EqualFold(f, sf) {
					canon = sf
				}
			}
			if canon == "" {
				return bad("flag %s cannot be stored", truncate(f, 30))
			}
			f = canon
		}
		if !slices.Contains(flags, f) {
			flags = append(flags, f)
		}
		return nil
	}
	if paren {
		return flags, s.p.list(one)
	}
	for {
		if err := one(); err != nil {
			return nil, err
		}
		if !s.p.take(' ') {
			return flags, nil
		}
	}
}

// applyStore runs the flag update and writes its responses.
func (s *session) applyStore(c *command, u store.FlagUpdate, conditional, silent bool) error {
	v := s.sel
	if len(u.UIDs) == 0 {
		return nil
	}
	var res store.FlagResult
	if conditional && u.UnchangedSince == 0 {
		// RFC 7162 3.1.3: UNCHANGEDSINCE 0 fails for every message (all have a modseq);
		// the store reads 0 as "unconditional", so it is not asked.
		res.Modified = u.UIDs
	} else {
		var err error
		if res, err = s.st.StoreFlags(context.Background(), s.ref, v.mbox.ID, u); err != nil {
			return storeError(err, "STORE")
		}
	}
	changed := make(map[store.UID]bool, len(res.Changed))
	for _, m := range res.Changed {
		v.ownFlags(m.UID, m.ModSeq)
		v.keywords.add(m.Flags)
		changed[m.UID] = true
	}
	if v.keywords.pending {
		s.writeFlagsResponses(v) // before the FETCH responses that carry the new keyword
	}
	if len(res.Modified) > 0 {
		// RFC 7162 3.1.3: MODIFIED lists what failed the UNCHANGEDSINCE test.
		mod := make([]uint32, 0, len(res.Modified))
		for _, uid := range res.Modified {
			if c.uid {
				mod = append(mod, uint32(uid))
			} else if n := v.seq(uid); n != 0 {
				mod = append(mod, n)
			}
		}
		slices.Sort(mod)
		c.okCode = "MODIFIED " + numSetString(mod)
	}
	if silent && !conditional {
		return nil
	}
	modified := make(map[store.UID]bool, len(res.Modified))
	for _, uid := range res.Modified {
		modified[uid] = true
	}
	return s.eachMessage(u.UIDs, 0, true, func(m store.Message) error {
		if modified[m.UID] || (silent && !changed[m.UID]) {
			return nil
		}
		n := v.seq(m.UID)
		if n == 0 {
			return nil
		}
		s.w.printf("* %d FETCH (", n)
		if c.uid || s.enabled.qresync {
			s.w.printf("UID %d ", m.UID)
		}
		s.w.raw("FLAGS ")
		s.writeFlagList(m.Flags)
		if s.enabled.condstore {
			s.w.printf(" MODSEQ (%d)", m.ModSeq)
		}
		s.w.raw(")\r\n")
		return s.w.err
	})
}
