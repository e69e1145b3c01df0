package imapserver

import (
	"io"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// searchMsg is one message under evaluation; the parsed structure, the raw header and
// the decoded body text are loaded only when a key needs them.
type searchMsg struct {
	s      *session
	m      store.Message
	seq    uint32
	maxSeq uint32
	f      *fetchMsg
	header []byte
	folded *store.SearchableText // folded header and body text for a scanned BODY/TEXT
	mf     *metaFields           // header fields from Meta, for keys that need no body
	err    error
}

// needs reports what a criteria tree needs beyond the message row.
func (k *searchKey) needs() (info, blob bool) {
	if k.indexed {
		return false, false // answered by an index: a lookup in k.hits
	}
	switch k.op {
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "SENTBEFORE", "SENTON", "SENTSINCE":
		info = true
	case "HEADER", "BODY", "TEXT":
		info, blob = true, true
	}
	for _, kid := range k.kids {
		i, b := kid.needs()
		info, blob = info || i, blob || b
	}
	return info, blob
}

// cost ranks what evaluating k needs: 0 the message row, 1 the cached envelope (JSON
// to decode), 2 the body.
func (k *searchKey) cost() int {
	switch info, blob := k.needs(); {
	case blob:
		return 2
	case info:
		return 1
	}
	return 0
}

// cheapFirst reorders every AND list so keys on the message row (flags, UIDs, sizes,
// dates) run before the ones that decode the envelope or read the body: AND is
// commutative, and "FROM x UNSEEN" then decodes nothing for a seen message.
func (k *searchKey) cheapFirst() {
	for _, kid := range k.kids {
		kid.cheapFirst()
	}
	if k.op == "AND" {
		slices.SortStableFunc(k.kids, func(a, b *searchKey) int { return a.cost() - b.cost() })
	}
}

func (sm *searchMsg) load(info, blob bool) bool {
	if sm.f != nil && (sm.f.blob != nil || !blob) || sm.err != nil {
		return sm.err == nil
	}
	if sm.f != nil {
		sm.f.close(sm.s)
		sm.f = nil
	}
	atts := []fetchAtt{{name: "BODYSTRUCTURE"}} // text keys read the structure (store.BodyText)
	if info {
		atts = append(atts, fetchAtt{name: "ENVELOPE"})
	}
	if blob {
		atts = append(atts, fetchAtt{name: "RFC822"})
	}
	sm.f, sm.err = sm.s.load(sm.m, atts)
	return sm.err == nil
}

func (sm *searchMsg) close() {
	if sm.f != nil {
		sm.f.close(sm.s)
	}
}

// match evaluates k for the message (RFC 9051 6.4.4).
func (sm *searchMsg) match(k *searchKey) bool {
	m := &sm.m
	if k.indexed {
		_, ok := slices.BinarySearch(k.hits, m.UID)
		return ok
	}
	switch k.op {
	case "AND":
		for _, kid := range k.kids {
			if !sm.match(kid) {
				return false
			}
		}
		return true
	case "OR":
		return sm.match(k.kids[0]) || sm.match(k.kids[1])
	case "NOT":
		return !sm.match(k.kids[0])
	case "ALL", "OLD":
		return true
	case "NEW", "RECENT":
		return false // no \Recent (RFC 9051 removed it)
	case "SEQ":
		if k.set.dollar {
			_, ok := slices.BinarySearch(sm.s.saved, m.UID)
			return ok
		}
		if k.uidOp {
			return k.set.contains(uint32(m.UID), uint32(sm.s.sel.maxUID()))
		}
		return k.set.contains(sm.seq, sm.maxSeq)
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		return hasFlag(m.Flags, `\`+k.op)
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return !hasFlag(m.Flags, `\`+k.op[2:])
	case "KEYWORD":
		return hasFlag(m.Flags, k.flag)
	case "UNKEYWORD":
		return !hasFlag(m.Flags, k.flag)
	case "LARGER":
		return uint64(m.Size) > k.n
	case "SMALLER":
		return uint64(m.Size) < k.n
	case "MODSEQ":
		return m.ModSeq >= k.n
	case "BEFORE", "ON", "SINCE":
		return compareDate(k.op, m.InternalDate, k.date)
	}
	return sm.matchContent(k)
}

// matchContent evaluates the keys that read the message's header or body.
func (sm *searchMsg) matchContent(k *searchKey) bool {
	info, blob := k.needs()
	if !blob && (sm.f == nil || sm.f.blob == nil) {
		if sm.mf == nil && len(sm.m.Meta) > 0 {
			sm.mf, _ = parseMetaFields(sm.m.Meta) // nil if malformed: the full path below
		}
		if sm.mf != nil {
			return sm.mf.match(k, sm.m.InternalDate)
		}
	}
	if !sm.load(info, blob) {
		return false
	}
	i := sm.f.info
	switch k.op {
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		d := i.Date
		if d.IsZero() {
			d = sm.m.InternalDate // as Dovecot: no usable Date header
		}
		return compareDate(strings.TrimPrefix(k.op, "SENT"), d, k.date)
	case "SUBJECT":
		return containsFold(i.Subject, k.str) || containsFold(i.Envelope.Subject, k.str)
	case "FROM":
		return containsFold(i.From, k.str) || addrContains(i.Envelope.From, k.str)
	case "TO":
		return containsFold(i.To, k.str) || addrContains(i.Envelope.To, k.str)
	case "CC":
		return addrContains(i.Envelope.Cc, k.str)
	case "BCC":
		return addrContains(i.Envelope.Bcc, k.str)
	case "HEADER":
		return sm.headerContains(k.str, k.str2)
	case "BODY", "TEXT":
		return sm.textContains(k.str, k.op == "TEXT")
	}
	return false
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}

// compareDate compares dates disregarding time and time zone (RFC 9051 6.4.4).
func compareDate(op string, t, day time.Time) bool {
	y, m, d := t.Date()
	td := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	switch op {
	case "BEFORE":
		return td.Before(day)
	case "ON":
		return td.Equal(day)
	}
	return !td.Before(day) // SINCE: on or after
}

// containsFold is a case-insensitive substring test (RFC 9051 6.4.4).
func containsFold(hay, needle string) bool {
	if needle == "" {
		return true
	}
	return strings.Contains(strings.ToLower(hay), strings.ToLower(needle))
}

func addrContains(l []message.Address, needle string) bool {
	for _, a := range l {
		if containsFold(a.Name+" <"+a.Mailbox+"@"+a.Host+">", needle) {
			return true
		}
	}
	return false
}

// headerContains tests one field (or, for name "", the whole header) of the top-level
// header, unfolded and RFC 2047 decoded.
func (sm *searchMsg) headerContains(name, needle string) bool {
	if sm.header == nil {
		size := min(sm.f.info.HeaderSize, maxHeaderRead, sm.f.blob.Size())
		sm.header = make([]byte, size)
		if _, err := io.ReadFull(io.NewSectionReader(sm.f.blob, 0, size), sm.header); err != nil {
			return false
		}
	}
	h := sm.header
	if name != "" {
		h = filterHeader(h, []string{name}, false)
		if len(h) <= 2 {
			return false // field absent
		}
	}
	unfolded := strings.NewReplacer("\r\n ", " ", "\r\n\t", " ", "\n ", " ", "\n\t", " ").Replace(string(h))
	wd := mime.WordDecoder{CharsetReader: charset.Reader}
	if dec, err := wd.DecodeHeader(unfolded); err == nil {
		unfolded = dec
	}
	if name != "" {
		for _, line := range strings.Split(unfolded, "\n") {
			if _, v, ok := strings.Cut(line, ":"); ok && containsFold(v, needle) {
				return true
			}
		}
		return false
	}
	return containsFold(unfolded, needle)
}

// textContains is the scan for BODY (the body text) and TEXT (header or body text) when
// the store has no text index: the same text and folding as the drivers' indexes
// (store.ExtractText, store.FoldText), so both give the same answers.
func (sm *searchMsg) textContains(needle string, header bool) bool {
	if sm.folded == nil {
		h, err := store.HeaderText(sm.f.blob, sm.f.info.HeaderSize)
		if err != nil {
			sm.err = err
			return false
		}
		b, err := store.BodyText(sm.f.blob, &sm.f.info.Structure)
		if err != nil {
			sm.err = err
			return false
		}
		sm.folded = &store.SearchableText{Header: store.FoldText(h), Body: store.FoldText(b)}
	}
	n := store.FoldText(needle)
	return strings.Contains(sm.folded.Body, n) || header && strings.Contains(sm.folded.Header, n)
}
