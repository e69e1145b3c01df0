package imapserver

import (
	"context"
	"sort"

	"mailgrid/internal/bus"
	"mailgrid/internal/store"
)

// busBuffer is how many changes a selected session's subscription holds; a burst beyond
// it costs a resync (UIDs and changed flags read again, without Meta). The subscription
// grows to it on demand (bus.SubscribeGrowing): an idle session holds a channel of one
// change (a store.Change is about 112 bytes), not the whole allowance.
const busBuffer = 1024

// view is a session's picture of its selected mailbox: the sequence-number to UID map the
// client knows (RFC 9051 2.3.1.2), and the changes other sessions made that the client has
// not been told yet. Changes arrive on the account's bus subscription; they are applied
// to the map only when announced (pushUpdates), so sequence numbers stay fixed while a
// command that must not see an EXPUNGE runs (RFC 9051 7.5.1).
type view struct {
	mbox     store.Mailbox // as at SELECT; ID and UIDVALIDITY never change
	readOnly bool
	uids     []store.UID // index+1 is the sequence number
	sub      *bus.Subscription

	gone     map[store.UID]struct{}   // expunged elsewhere, not yet announced
	added    []store.UID              // arrived, not yet announced
	flags    map[store.UID]flagChange // flag changes to announce
	own      map[store.UID]uint64     // modseq of our own flag changes (the bus echoes them)
	deleted  bool                     // the mailbox was deleted
	ended    string                   // the account's end, its BYE text (ended.go)
	modseq   uint64                   // highest modseq seen
	keywords keywordSet               // announced in FLAGS; pending when one appeared
}

type flagChange struct {
	flags  []string
	modseq uint64
}

func (v *view) close() {
	if v.sub != nil {
		v.sub.Close()
	}
}

// seq returns the sequence number of uid, or 0.
func (v *view) seq(uid store.UID) uint32 {
	i := sort.Search(len(v.uids), func(i int) bool { return v.uids[i] >= uid })
	if i < len(v.uids) && v.uids[i] == uid {
		return uint32(i + 1)
	}
	return 0
}

func (v *view) maxUID() store.UID {
	if len(v.uids) == 0 {
		return 0
	}
	return v.uids[len(v.uids)-1]
}

// apply records one change of the account.
func (v *view) apply(ch store.Change) {
	if v.applyEnded(ch) {
		return
	}
	if ch.Mailbox != v.mbox.ID {
		return
	}
	if ch.ModSeq > v.modseq {
		v.modseq = ch.ModSeq
	}
	if ch.Kind == store.MessageAdded || ch.Kind == store.FlagsChanged {
		v.keywords.add(ch.Flags) // our own changes too: APPEND and COPY announce here
	}
	switch ch.Kind {
	case store.MessageAdded:
		if v.seq(ch.UID) == 0 && ch.UID > v.maxUID() {
			if n := len(v.added); n == 0 || v.added[n-1] < ch.UID {
				v.added = append(v.added, ch.UID)
			}
		}
	case store.FlagsChanged:
		if m, ok := v.own[ch.UID]; ok && m >= ch.ModSeq {
			if m == ch.ModSeq {
				delete(v.own, ch.UID)
			}
			return
		}
		if old, ok := v.flags[ch.UID]; !ok || old.modseq < ch.ModSeq {
			v.flags[ch.UID] = flagChange{flags: ch.Flags, modseq: ch.ModSeq}
		}
	case store.MessageExpunged:
		if v.seq(ch.UID) != 0 {
			v.gone[ch.UID] = struct{}{}
		} else if i := sort.Search(len(v.added), func(i int) bool { return v.added[i] >= ch.UID }); i < len(v.added) && v.added[i] == ch.UID {
			v.added = append(v.added[:i], v.added[i+1:]...)
		}
		delete(v.flags, ch.UID)
	case store.MailboxRenamed:
		v.mbox.Name = ch.Name // the selection follows its mailbox (same ID, same UIDs)
	case store.MailboxDeleted:
		v.deleted = true
	}
}

// ownFlags records a flag change this session made and reported itself.
func (v *view) ownFlags(uid store.UID, modseq uint64) {
	v.own[uid] = modseq
	if f, ok := v.flags[uid]; ok && f.modseq <= modseq {
		delete(v.flags, uid)
	}
	if modseq > v.modseq {
		v.modseq = modseq
	}
}

// removeUID drops an expunged message from the map and returns its sequence number.
func (v *view) removeUID(uid store.UID) uint32 {
	n := v.seq(uid)
	if n != 0 {
		v.uids = append(v.uids[:n-1], v.uids[n:]...)
	}
	delete(v.gone, uid)
	delete(v.flags, uid)
	delete(v.own, uid)
	return n
}

// drainChanges moves what the bus delivered into the view, and resynchronises from the
// store when the subscription overflowed (changes were lost).
func (s *session) drainChanges() {
	v := s.sel
	if v == nil || v.sub == nil {
		return
	}
	for ch, ok := v.sub.TryNext(); ok; ch, ok = v.sub.TryNext() {
		v.apply(ch)
	}
	if v.sub.Overflowed() {
		if err := s.resync(); err != nil {
			s.log.Warn("resync after bus overflow", "err", err)
		}
	}
}

// resync rebuilds the pending changes from the store after lost notifications: a new
// subscription first (so nothing is lost after it), then the store's current UIDs
// against the view, and every message changed since the highest modseq seen.
func (s *session) resync() error {
	v := s.sel
	v.sub.Close()
	v.sub = s.srv.opt.Bus.SubscribeGrowing(s.ref, busBuffer)
	ctx := context.Background()
	present := make(map[store.UID]struct{}, len(v.uids))
	since := v.modseq
	err := s.st.Messages(ctx, s.ref, v.mbox.ID, store.Query{NoMeta: true}, func(m store.Message) error {
		present[m.UID] = struct{}{}
		if m.ModSeq > since {
			v.apply(store.Change{Kind: store.MessageAdded, Mailbox: v.mbox.ID, UID: m.UID, ModSeq: m.ModSeq})
			v.apply(store.Change{Kind: store.FlagsChanged, Mailbox: v.mbox.ID, UID: m.UID, ModSeq: m.ModSeq, Flags: m.Flags})
		}
		return nil
	})
	if err != nil {
		if _, merr := s.st.Mailbox(ctx, s.ref, v.mbox.Name); merr != nil {
			v.deleted = true
		}
		return err
	}
	for _, u := range v.uids {
		if _, ok := present[u]; !ok {
			v.gone[u] = struct{}{}
		}
	}
	return nil
}

// pushUpdates announces pending changes (RFC 9051 7.4): expunges when allowed (as
// VANISHED with QRESYNC, RFC 7162 3.2.10), new keywords (FLAGS, RFC 9051 7.3.5), then
// new messages (EXISTS), then flag changes (FETCH, with MODSEQ under CONDSTORE, RFC 7162
// 3.2.4). It only buffers them (the caller flushes, so a command's data, updates and
// tagged reply leave in one write) and reports false on a write error.
func (s *session) pushUpdates(expunge bool) bool {
	v := s.sel
	if expunge && len(v.gone) > 0 {
		gone := make([]store.UID, 0, len(v.gone))
		for u := range v.gone {
			gone = append(gone, u)
		}
		sortUIDs(gone)
		s.writeExpunged(gone)
	}
	if v.keywords.pending {
		s.writeFlagsResponses(v)
	}
	if len(v.added) > 0 {
		v.uids = append(v.uids, v.added...)
		v.added = v.added[:0]
		s.w.printf("* %d EXISTS\r\n", len(v.uids))
	}
	if len(v.flags) > 0 {
		uids := make([]store.UID, 0, len(v.flags))
		for u := range v.flags {
			uids = append(uids, u)
		}
		sortUIDs(uids)
		for _, u := range uids {
			f := v.flags[u]
			delete(v.flags, u)
			if n := v.seq(u); n != 0 {
				s.writeFlagsFetch(n, u, f.flags, f.modseq)
			}
		}
	}
	return s.w.err == nil // the caller flushes: with the tagged reply, one write
}

// writeExpunged removes uids from the view and announces them.
func (s *session) writeExpunged(uids []store.UID) {
	if len(uids) == 0 {
		return
	}
	if s.enabled.qresync {
		for _, u := range uids {
			s.sel.removeUID(u)
		}
		s.w.raw("* VANISHED " + compactUIDs(uids).String() + "\r\n")
		return
	}
	for _, u := range uids {
		if n := s.sel.removeUID(u); n != 0 {
			s.w.printf("* %d EXPUNGE\r\n", n)
		}
	}
}

// writeFlagsFetch writes an unsolicited "* n FETCH (UID u FLAGS (...) [MODSEQ (m)])".
func (s *session) writeFlagsFetch(n uint32, uid store.UID, flags []string, modseq uint64) {
	s.w.printf("* %d FETCH (UID %d FLAGS ", n, uid)
	s.writeFlagList(flags)
	if s.enabled.condstore && modseq != 0 {
		s.w.printf(" MODSEQ (%d)", modseq)
	}
	s.w.raw(")\r\n")
}

func (s *session) writeFlagList(flags []string) {
	s.w.byte('(')
	for i, f := range flags {
		if i > 0 {
			s.w.byte(' ')
		}
		s.w.raw(f)
	}
	s.w.byte(')')
}

// selectedGone reports (after saying BYE) that the selected mailbox was deleted by
// another session, which ends this one, as Dovecot does.
func (s *session) selectedGone() bool {
	if s.sel == nil || !s.sel.deleted {
		return false
	}
	s.bye(goneText(s.sel))
	return true
}
