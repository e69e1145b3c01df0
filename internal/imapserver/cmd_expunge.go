package imapserver

import (
	"context"
	"slices"

	"mailgrid/internal/store"
)

// cmdExpunge: EXPUNGE (RFC 9051 6.4.3) and UID EXPUNGE (RFC 4315 2.1).
func cmdExpunge(s *session, c *command) error {
	var set *seqSet
	if c.uid {
		if err := s.p.sp(); err != nil {
			return err
		}
		ss, err := s.p.seqSet()
		if err != nil {
			return err
		}
		set = &ss
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if s.sel.readOnly {
		return no("READ-ONLY", "mailbox is read-only")
	}
	removed, err := s.expungeDeleted(set)
	if err != nil {
		return err
	}
	s.writeExpunged(removed)
	if s.enabled.condstore {
		if mb, err := s.st.Mailbox(context.Background(), s.ref, s.sel.mbox.Name); err == nil {
			c.okCode = "HIGHESTMODSEQ " + itoa(int64(mb.HighestModSeq)) // RFC 7162 3.1.12
		}
	}
	return nil
}

// expungeDeleted removes the selected mailbox's \Deleted messages (those in uidSet, when
// given) and returns the UIDs removed, in order, still present in the view.
func (s *session) expungeDeleted(uidSet *seqSet) ([]store.UID, error) {
	v := s.sel
	ctx := context.Background()
	var uids []store.UID
	var saved []store.UID
	if uidSet != nil && uidSet.dollar {
		saved = s.saved
	}
	err := s.st.Messages(ctx, s.ref, v.mbox.ID, store.Query{NoMeta: true}, func(m store.Message) error {
		if !slices.Contains(m.Flags, store.FlagDeleted) || v.seq(m.UID) == 0 {
			return nil
		}
		if uidSet != nil && !s.uidInSet(*uidSet, saved, m.UID) {
			return nil
		}
		uids = append(uids, m.UID)
		return nil
	})
	if err != nil {
		return nil, storeError(err, "EXPUNGE")
	}
	if len(uids) == 0 {
		return nil, nil
	}
	removed, err := s.st.Expunge(ctx, s.ref, v.mbox.ID, uids)
	if err != nil {
		return nil, storeError(err, "EXPUNGE")
	}
	sortUIDs(removed)
	return removed, nil
}

// uidInSet reports whether uid is in a UID set of the selected mailbox ("*" is its
// highest UID; "$" the saved search result).
func (s *session) uidInSet(set seqSet, saved []store.UID, uid store.UID) bool {
	if set.dollar {
		_, ok := slices.BinarySearch(saved, uid)
		return ok
	}
	return set.contains(uint32(uid), uint32(s.sel.maxUID()))
}
