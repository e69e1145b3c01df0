package imapserver

import (
	"context"
	"fmt"
	"io"
	"slices"

	"mailgrid/internal/message"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// cmdFetch: FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9), with CHANGEDSINCE and VANISHED
// (RFC 7162 3.1.4, 3.2.6) and BINARY (RFC 3516). Responses are streamed message by
// message; bodies come from the blob store through the part offsets cached at delivery
// (message.Info), never re-parsed.
func cmdFetch(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	set, err := s.p.seqSet()
	if err != nil {
		return err
	}
	if err := s.p.sp(); err != nil {
		return err
	}
	atts, err := s.fetchAtts()
	if err != nil {
		return err
	}
	var mods fetchMods
	if s.p.take(' ') {
		if mods, err = s.fetchModifiers(c.uid); err != nil {
			return err
		}
	}
	if err := s.p.end(); err != nil {
		return err
	}
	uids, err := s.resolve(set, c.uid)
	if err != nil {
		return err
	}
	if c.uid && !slices.ContainsFunc(atts, func(a fetchAtt) bool { return a.name == "UID" }) {
		atts = append([]fetchAtt{{name: "UID"}}, atts...) // RFC 9051 6.4.9
	}
	if mods.hasChanged || slices.ContainsFunc(atts, func(a fetchAtt) bool { return a.name == "MODSEQ" }) {
		s.enabled.condstore = true // RFC 7162 3.1: CONDSTORE-enabling
		if !slices.ContainsFunc(atts, func(a fetchAtt) bool { return a.name == "MODSEQ" }) {
			atts = append(atts, fetchAtt{name: "MODSEQ"})
		}
	}
	if mods.vanished {
		if err := s.writeVanishedEarlier(set, mods.changedSince); err != nil {
			return err
		}
	}
	seen, err := s.markSeen(uids, atts)
	if err != nil {
		return err
	}
	failed := 0
	var cte *respError
	info, blob := needsInfo(atts)
	err = s.eachMessage(uids, mods.changedSince, !info && !blob, func(m store.Message) error {
		if ch, ok := seen[m.UID]; ok {
			m.Flags, m.ModSeq = ch.Flags, ch.ModSeq
		}
		ok, err := s.fetchOne(m, atts, seen[m.UID].UID != 0)
		if re, isResp := err.(*respError); isResp && re.code == codeUnknownCTE {
			cte = re // that message is skipped, the others are sent
			return nil
		}
		if !ok {
			failed++
		}
		return err
	})
	if err != nil {
		return err
	}
	if cte != nil {
		return cte
	}
	if failed > 0 {
		return no(codeUnavailable, "%d messages could not be read", failed)
	}
	return s.expungeIssued(uids)
}

// expungeIssued answers a command that named messages another session expunged and this
// one has not announced yet: they were skipped (RFC 2180 4.1.2; NO [EXPUNGEISSUED], RFC
// 5530 3, as Dovecot).
func (s *session) expungeIssued(uids []store.UID) error {
	for _, u := range uids {
		if _, ok := s.sel.gone[u]; ok {
			return no(codeExpunged, "some of the requested messages no longer exist")
		}
	}
	return nil
}

// markSeen sets \Seen on the messages a body fetch reads (RFC 9051 6.4.5) and returns
// the changed messages, whose new FLAGS the responses carry.
func (s *session) markSeen(uids []store.UID, atts []fetchAtt) (map[store.UID]store.Message, error) {
	if s.sel.readOnly || len(uids) == 0 || !slices.ContainsFunc(atts, fetchAtt.setsSeen) {
		return nil, nil
	}
	res, err := s.st.StoreFlags(context.Background(), s.ref, s.sel.mbox.ID,
		store.FlagUpdate{UIDs: uids, Op: store.FlagsAdd, Flags: []string{store.FlagSeen}})
	if err != nil {
		return nil, storeError(err, "FETCH")
	}
	out := make(map[store.UID]store.Message, len(res.Changed))
	for _, m := range res.Changed {
		out[m.UID] = m
		s.sel.ownFlags(m.UID, m.ModSeq)
	}
	return out, nil
}

// writeVanishedEarlier answers UID FETCH ... (CHANGEDSINCE n VANISHED) (RFC 7162 3.2.6).
func (s *session) writeVanishedEarlier(set seqSet, since uint64) error {
	gone, err := s.st.Vanished(context.Background(), s.ref, s.sel.mbox.ID, since)
	if err != nil {
		return storeError(err, "FETCH")
	}
	var in []store.UID
	for _, u := range gone {
		if s.uidInSet(set, s.saved, u) {
			in = append(in, u)
		}
	}
	if len(in) > 0 {
		s.w.raw("* VANISHED (EARLIER) " + compactUIDs(in).String() + "\r\n")
	}
	return nil
}

// fetchMsg is one message being fetched: what it needs is loaded before the response
// starts, so a failure never leaves half a response on the wire.
type fetchMsg struct {
	m    store.Message
	info *message.Info
	blob store.Blob
}

func needsInfo(atts []fetchAtt) (info, blob bool) {
	for _, a := range atts {
		switch a.name {
		case "ENVELOPE", "BODYSTRUCTURE":
			info = true
		case "BODY":
			info = true
			blob = blob || a.section != nil
		case "BINARY", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT":
			info, blob = true, true
		}
	}
	return info, blob
}

// load prepares f for atts.
func (s *session) load(m store.Message, atts []fetchAtt) (*fetchMsg, error) {
	f := &fetchMsg{m: m}
	wantInfo, wantBlob := needsInfo(atts)
	if wantBlob || (wantInfo && len(m.Meta) == 0) {
		b, err := s.st.OpenBlob(context.Background(), s.ref, m.ID)
		if err != nil {
			return nil, err
		}
		f.blob = b
	}
	if wantInfo {
		if len(m.Meta) > 0 {
			f.info = decodeInfo(m.Meta, needsStructure(atts))
		}
		if f.info == nil { // no cached structure: parse once now
			info, err := message.Parse(f.blob, f.blob.Size())
			if err != nil {
				f.close(s)
				return nil, err
			}
			f.info = info
		}
	}
	return f, nil
}

func (f *fetchMsg) close(s *session) {
	if f.blob != nil {
		obs.Check(s.log, f.blob.Close(), "close blob")
		f.blob = nil
	}
}

// fetchOne writes one "* n FETCH (...)" response. It reports false (and writes
// nothing) when the message could not be read.
func (s *session) fetchOne(m store.Message, atts []fetchAtt, flagsChanged bool) (bool, error) {
	n := s.sel.seq(m.UID)
	if n == 0 {
		return true, nil
	}
	f, err := s.load(m, atts)
	if err != nil {
		s.log.Warn("fetch: message unreadable", "uid", m.UID, "err", err)
		return false, nil
	}
	defer f.close(s)
	if err := unknownCTE(f, atts); err != nil {
		return false, err // before anything of the response is written
	}
	s.w.printf("* %d FETCH (", n)
	hasFlags := false
	for i, a := range atts {
		if i > 0 {
			s.w.byte(' ')
		}
		hasFlags = hasFlags || a.name == "FLAGS"
		if err := s.writeAtt(f, a); err != nil {
			return false, err
		}
	}
	if flagsChanged && !hasFlags {
		s.w.raw(" FLAGS ")
		s.writeFlagList(m.Flags)
	}
	s.w.raw(")\r\n")
	return true, s.w.err
}

// imapDate is the date-time layout of INTERNALDATE (RFC 9051 9 date-time).
const imapDate = "02-Jan-2006 15:04:05 -0700"

func (s *session) writeAtt(f *fetchMsg, a fetchAtt) error {
	m := f.m
	switch a.name {
	case "FLAGS":
		s.w.raw("FLAGS ")
		s.writeFlagList(m.Flags)
	case "UID":
		s.w.printf("UID %d", m.UID)
	case "INTERNALDATE":
		s.w.raw(`INTERNALDATE "` + m.InternalDate.Format(imapDate) + `"`)
	case "RFC822.SIZE":
		s.w.printf("RFC822.SIZE %d", m.Size)
	case "MODSEQ":
		s.w.printf("MODSEQ (%d)", m.ModSeq)
	case "ENVELOPE":
		s.w.raw("ENVELOPE ")
		s.writeEnvelope(&f.info.Envelope)
	case "BODYSTRUCTURE":
		s.w.raw("BODYSTRUCTURE ")
		s.writeBodyStructure(&f.info.Structure, true, 0)
	case "BODY":
		if a.section == nil {
			s.w.raw("BODY ")
			s.writeBodyStructure(&f.info.Structure, false, 0)
			return nil
		}
		return s.writeSection(f, a)
	case "RFC822", "RFC822.HEADER", "RFC822.TEXT":
		sec := section{}
		switch a.name {
		case "RFC822.HEADER":
			sec.text = "HEADER"
		case "RFC822.TEXT":
			sec.text = "TEXT"
		}
		r, size, err := s.sectionReader(f, sec)
		if err != nil {
			return err
		}
		s.w.raw(a.name + " ")
		s.w.literal(r, size, false)
	case "BINARY", "BINARY.SIZE":
		return s.writeBinary(f, a)
	default:
		return fmt.Errorf("fetch item %s not handled", a.name)
	}
	return nil
}

// writeSection writes BODY[section]<origin> and its content as a literal.
func (s *session) writeSection(f *fetchMsg, a fetchAtt) error {
	r, size, err := s.sectionReader(f, *a.section)
	if err != nil {
		return err
	}
	s.w.raw("BODY[" + a.section.String() + "]")
	r, size = applyPartial(s, r, size, a.partial)
	s.w.literal(r, size, false)
	return nil
}

// applyPartial applies <origin.length> (RFC 9051 6.4.5) and writes "<origin>".
func applyPartial(s *session, r io.Reader, size int64, partial *[2]int64) (io.Reader, int64) {
	if partial == nil {
		s.w.byte(' ')
		return r, size
	}
	s.w.printf("<%d> ", partial[0])
	off, n := partial[0], partial[1]
	if off >= size {
		return r, 0
	}
	if _, err := io.CopyN(io.Discard, r, off); err != nil {
		return r, 0
	}
	return r, min(n, size-off)
}
