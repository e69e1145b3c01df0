package imapserver

import (
	"context"
	"slices"
	"strings"

	"mailgrid/internal/store"
)

// qresyncParam is SELECT's QRESYNC parameter (RFC 7162 3.2.5).
type qresyncParam struct {
	uidValidity uint32
	modseq      uint64
	known       *seqSet
}

// cmdSelect: SELECT and EXAMINE (RFC 9051 6.3.2, 6.3.3) with the CONDSTORE and QRESYNC
// parameters (RFC 7162 3.1.8, 3.2.5).
func cmdSelect(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	condstore, qr, err := s.selectParams()
	if err != nil {
		return err
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if s.sel != nil {
		s.unselect()
		if s.enabled.qresync || s.enabled.rev2 {
			s.w.raw("* OK [CLOSED] Previous mailbox closed\r\n") // RFC 7162 3.2.11
		}
	}
	if condstore {
		s.enabled.condstore = true
	}
	v, first, err := s.openView(name, c.name == "EXAMINE")
	if err != nil {
		return err
	}
	s.writeSelect(v, first)
	if qr != nil && qr.uidValidity == v.mbox.UIDValidity {
		if err := s.qresync(qr); err != nil {
			return err
		}
	}
	if v.readOnly {
		c.okCode = "READ-ONLY"
	} else {
		c.okCode = "READ-WRITE"
	}
	c.okText = c.name + " completed"
	return nil
}

func (s *session) selectParams() (condstore bool, qr *qresyncParam, err error) {
	if !s.p.take(' ') {
		return false, nil, nil
	}
	err = s.p.list(func() error {
		a, err := s.p.atom()
		if err != nil {
			return err
		}
		switch strings.ToUpper(a) {
		case "CONDSTORE":
			condstore = true
			return nil
		case "QRESYNC":
			if !s.enabled.qresync {
				return bad("QRESYNC not enabled") // RFC 7162 3.2.5
			}
			if err := s.p.sp(); err != nil {
				return err
			}
			qr, err = s.qresyncArgs()
			return err
		}
		return bad("unknown SELECT parameter %s", a)
	})
	return condstore, qr, err
}

func (s *session) qresyncArgs() (*qresyncParam, error) {
	qr := &qresyncParam{}
	err := s.p.expect('(')
	if err == nil {
		qr.uidValidity, err = s.p.nzNumber()
	}
	if err == nil {
		err = s.p.sp()
	}
	if err == nil {
		qr.modseq, err = s.p.number64()
	}
	if err == nil && s.p.take(' ') {
		if s.p.peek() != '(' {
			set, serr := s.p.seqSet()
			qr.known, err = &set, serr
			if err == nil && s.p.take(' ') {
				err = s.skipSeqMatch()
			}
		} else {
			err = s.skipSeqMatch()
		}
	}
	if err == nil {
		err = s.p.expect(')')
	}
	return qr, err
}

// skipSeqMatch parses and ignores seq-match-data, an optimisation we do not need.
func (s *session) skipSeqMatch() error {
	err := s.p.expect('(')
	if err == nil {
		_, err = s.p.seqSet()
	}
	if err == nil {
		err = s.p.sp()
	}
	if err == nil {
		_, err = s.p.seqSet()
	}
	if err == nil {
		err = s.p.expect(')')
	}
	return err
}

// openView subscribes to the account's changes, then loads the mailbox and its UIDs, so
// no change after the snapshot can be missed. The UIDs come from the server's mailbox
// cache when it is exact at the mailbox's HighestModSeq (boxcache.go), else from the
// store. It returns the first unseen sequence number.
func (s *session) openView(name string, readOnly bool) (*view, uint32, error) {
	ctx := context.Background()
	sub := s.srv.opt.Bus.SubscribeGrowing(s.ref, busBuffer)
	mb, err := s.st.Mailbox(ctx, s.ref, name)
	if err != nil {
		sub.Close()
		return nil, 0, storeError(err, "SELECT")
	}
	v := &view{mbox: mb, readOnly: readOnly, sub: sub, modseq: mb.HighestModSeq,
		gone: map[store.UID]struct{}{}, flags: map[store.UID]flagChange{}, own: map[store.UID]uint64{}}
	key := boxKey{s.ref, mb.ID}
	first, ok := s.srv.boxes.load(key, mb, v)
	if !ok {
		if first, err = s.readView(ctx, key, v); err != nil {
			sub.Close()
			return nil, 0, storeError(err, "SELECT")
		}
	}
	if next := v.maxUID() + 1; v.mbox.UIDNext < next {
		v.mbox.UIDNext = next
	}
	s.sel, s.state, s.saved = v, stateSelected, nil
	return v, first, nil
}

// readView reads v's UIDs and keywords from the store and offers the rows to the mailbox
// cache: they are a snapshot at v.mbox.HighestModSeq when the mailbox, read again, still
// has that modseq (no change committed in between).
func (s *session) readView(ctx context.Context, key boxKey, v *view) (uint32, error) {
	fill := s.srv.boxes.beginFill(key)
	var (
		first  uint32
		flags  [][]string
		behind bool
	)
	err := s.st.Messages(ctx, s.ref, key.mbox, store.Query{NoMeta: true}, func(m store.Message) error {
		v.uids = append(v.uids, m.UID)
		v.keywords.add(m.Flags)
		if first == 0 && !slices.Contains(m.Flags, store.FlagSeen) {
			first = uint32(len(v.uids))
		}
		if fill != nil {
			flags = append(flags, m.Flags)
			behind = behind || m.ModSeq > v.mbox.HighestModSeq
		}
		return nil
	})
	if fill == nil {
		return first, err
	}
	if err != nil || behind {
		s.srv.boxes.abortFill(fill)
		return first, err
	}
	again, merr := s.st.Mailbox(ctx, s.ref, v.mbox.Name)
	if merr != nil || again.ID != v.mbox.ID || again.UIDValidity != v.mbox.UIDValidity ||
		again.HighestModSeq != v.mbox.HighestModSeq {
		s.srv.boxes.abortFill(fill)
		return first, nil
	}
	s.srv.boxes.finishFill(fill, v.mbox, slices.Clone(v.uids), flags)
	return first, nil
}

// writeSelect writes SELECT's untagged responses (RFC 9051 6.3.2; rev1 adds RECENT and
// UNSEEN, RFC 3501 6.3.1).
func (s *session) writeSelect(v *view, firstUnseen uint32) {
	s.w.printf("* %d EXISTS\r\n", len(v.uids))
	if !s.enabled.rev2 {
		s.w.raw("* 0 RECENT\r\n")
	}
	s.writeFlagsResponses(v)
	if firstUnseen != 0 && !s.enabled.rev2 {
		s.w.printf("* OK [UNSEEN %d] First unseen\r\n", firstUnseen)
	}
	s.w.printf("* OK [UIDVALIDITY %d] UIDs valid\r\n", v.mbox.UIDValidity)
	s.w.printf("* OK [UIDNEXT %d] Predicted next UID\r\n", v.mbox.UIDNext)
	if s.enabled.condstore {
		s.w.printf("* OK [HIGHESTMODSEQ %d] Highest\r\n", v.mbox.HighestModSeq)
	}
	if s.enabled.rev2 {
		s.w.raw(`* LIST () "/" `) // RFC 9051 6.3.2
		s.w.astr(s.encodeMailbox(v.mbox.Name))
		s.w.raw("\r\n")
	}
}

// qresync reports what changed since the client's modseq (RFC 7162 3.2.5.1): VANISHED
// (EARLIER) for expunged UIDs it may know, then FETCH for changed messages.
func (s *session) qresync(qr *qresyncParam) error {
	ctx := context.Background()
	v := s.sel
	gone, err := s.st.Vanished(ctx, s.ref, v.mbox.ID, qr.modseq)
	if err != nil {
		return storeError(err, "SELECT")
	}
	var known []store.UID
	for _, u := range gone {
		if qr.known == nil || qr.known.contains(uint32(u), uint32(v.maxUID())) {
			known = append(known, u)
		}
	}
	if len(known) > 0 {
		s.w.raw("* VANISHED (EARLIER) " + compactUIDs(known).String() + "\r\n")
	}
	return s.st.Messages(ctx, s.ref, v.mbox.ID, store.Query{ChangedSince: qr.modseq, NoMeta: true}, func(m store.Message) error {
		if n := v.seq(m.UID); n != 0 {
			s.writeFlagsFetch(n, m.UID, m.Flags, m.ModSeq)
		}
		return nil
	})
}

func (s *session) unselect() {
	if s.sel != nil {
		s.sel.close()
	}
	s.sel, s.saved = nil, nil
	if s.state == stateSelected {
		s.state = stateAuth
	}
}

// cmdClose: CLOSE (RFC 9051 6.4.1: expunges \Deleted silently when read-write) and
// UNSELECT (RFC 3691: does not).
func cmdClose(s *session, c *command) error {
	if err := s.p.end(); err != nil {
		return err
	}
	if c.name == "CLOSE" && !s.sel.readOnly {
		if _, err := s.expungeDeleted(nil); err != nil {
			return err
		}
	}
	s.unselect()
	return nil
}
