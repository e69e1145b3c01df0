package store

import (
	"context"
	"encoding/json"
	"strings"
	"unicode"
)

// Sorted, filtered pages of a mailbox (the webmail's message list and the mail API).
//
// A list page must cost the same in a folder of 100,000 messages as in one of 100, so a
// driver that implements Lister answers from indexes on (mailbox, sort key, uid) and reads
// only the rows of the page (LIMIT/OFFSET; a page past the middle is read from the other
// end of the index, so no page walks more than half of it). The keys:
//
//   - SortDate: the internal date (RFC 9051 2.3.3), the order mail arrived in;
//   - SortSize: the RFC822.SIZE;
//   - SortFrom: the first From address's display name, else its addr-spec, folded
//     (the DISPLAY key of RFC 5957 3, what a list shows);
//   - SortSubject: the base subject (RFC 5256 2.1), folded, so "Re: x" sorts with "x".
//
// Ties are broken by UID, in the same direction as the key. The from and subject keys are
// computed in Go from the message's Meta (SortKeys), never by the database, so both drivers
// order identically. The drivers keep them in a table of their own, written with each
// message by every path that adds one (delivery, APPEND, COPY and MOVE take the source's,
// import), in the same transaction; rows without keys (messages stored before the drivers
// wrote them) are filled lazily: before a page sorted by from or subject, the mailbox's
// rows without keys get them, a bounded batch at a time.
// Folding is strings.ToLower and keys compare bytewise (PostgreSQL columns use the "C"
// collation), as everywhere in the store.

// List sort keys.
const (
	SortDate    = "date"
	SortFrom    = "from"
	SortSubject = "subject"
	SortSize    = "size"
)

// List filters.
const (
	FilterNone    = ""
	FilterUnseen  = "unseen"  // messages without \Seen
	FilterFlagged = "flagged" // messages with \Flagged
)

// MaxListLimit bounds ListQuery.Limit.
const MaxListLimit = 1000

// ListQuery asks Lister for one page.
type ListQuery struct {
	Sort   string // SortDate (also for ""), SortFrom, SortSubject, SortSize
	Desc   bool
	Filter string // FilterNone, FilterUnseen, FilterFlagged
	Offset int    // messages to skip, >= 0
	Limit  int    // 1 .. MaxListLimit
}

// Valid reports ErrInvalid for an unknown sort or filter or an out-of-range page.
func (q ListQuery) Valid() error {
	switch {
	case q.Sort != "" && q.Sort != SortDate && q.Sort != SortFrom && q.Sort != SortSubject && q.Sort != SortSize,
		q.Filter != FilterNone && q.Filter != FilterUnseen && q.Filter != FilterFlagged,
		q.Offset < 0, q.Limit < 1, q.Limit > MaxListLimit:
		return ErrInvalid
	}
	return nil
}

// ListPage is one page of a mailbox.
type ListPage struct {
	Messages []Message // in the query's order, with Meta
	Total    int       // messages of the mailbox passing the filter
}

// Lister is implemented by drivers with sort indexes. Front-ends use it when the store
// has it (a type assertion) and sort in memory otherwise.
type Lister interface {
	// ListMessages returns the page of mbox's messages that q selects. ErrNotFound for a
	// mailbox not of acct, ErrInvalid for a query that is not Valid.
	ListMessages(ctx context.Context, acct AccountRef, mbox MailboxID, q ListQuery) (ListPage, error)
}

// sortMeta is what SortKeys decodes of a Meta (message.Info).
type sortMeta struct {
	Subject  string `json:"subject"`
	Envelope struct {
		From []struct {
			Name    string `json:"name"`
			Mailbox string `json:"mailbox"`
			Host    string `json:"host"`
		} `json:"from"`
	} `json:"env"`
}

// SortKeys returns the from and subject sort keys of a message from its Meta; a missing
// or undecodable Meta gives empty keys (they sort first).
func SortKeys(meta []byte) (from, subject string) {
	var m sortMeta
	if len(meta) == 0 || json.Unmarshal(meta, &m) != nil {
		return "", ""
	}
	if f := m.Envelope.From; len(f) > 0 {
		from = sortFrom(f[0].Name, f[0].Mailbox, f[0].Host)
	}
	return from, BaseSubject(m.Subject)
}

// sortFrom is the from sort key of the first From address.
func sortFrom(name, mailbox, host string) string {
	from := name
	switch {
	case name != "":
	case host == "":
		from = mailbox
	default:
		from = mailbox + "@" + host
	}
	return FoldText(strings.TrimSpace(from))
}

// BaseSubject is the base subject of a decoded subject (RFC 5256 2.1), folded: white
// space runs become one space (1), trailing "(fwd)" (2), leading "Re:", "Fw:", "Fwd:"
// with an optional [blob] and leading [blobs] (3, 4) and a "[Fwd: ...]" wrapper (6) are
// removed, repeatedly, until nothing changes.
func BaseSubject(subj string) string {
	s := strings.Join(strings.FieldsFunc(subj, unicode.IsSpace), " ")
	for range 64 { // each round removes something or ends; bounded for hostile input
		prev := s
		for strings.HasSuffix(strings.ToLower(s), "(fwd)") {
			s = strings.TrimSpace(s[:len(s)-5])
		}
		for {
			n, ok := stripSubjLeader(s)
			if !ok {
				break
			}
			s = n
		}
		if low := strings.ToLower(s); strings.HasPrefix(low, "[fwd:") && strings.HasSuffix(s, "]") {
			s = strings.TrimSpace(s[5 : len(s)-1])
		}
		if s == prev {
			break
		}
	}
	return FoldText(s)
}

// stripSubjLeader removes one subj-refwd ("re", "fw", "fwd", optional blob, ":") or one
// subj-blob from the start of s (RFC 5256 5 ABNF); a blob that is all that is left stays.
func stripSubjLeader(s string) (string, bool) {
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
			return strings.TrimLeft(rest[1:], " \t"), true
		}
	}
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i >= 0 {
			if rest := strings.TrimLeft(s[i+1:], " \t"); rest != "" {
				return rest, true
			}
		}
	}
	return s, false
}

// ListPlan is how a driver reads a page: from which end of the sort index, how many rows
// to skip and take, and whether to reverse what it read.
type ListPlan struct {
	Desc    bool // read order (key, uid) descending
	Offset  int
	Limit   int
	Reverse bool // the rows were read from the other end: reverse them
}

// PlanList turns q over total matching messages into a read: a page past the middle is
// read from the other end of the index, so a read skips at most half the rows. A page
// past the end reads nothing (Limit 0).
func PlanList(q ListQuery, total int) ListPlan {
	if q.Offset >= total {
		return ListPlan{Desc: q.Desc}
	}
	n := min(q.Limit, total-q.Offset)
	if q.Offset <= total/2 {
		return ListPlan{Desc: q.Desc, Offset: q.Offset, Limit: n}
	}
	return ListPlan{Desc: !q.Desc, Offset: total - q.Offset - n, Limit: n, Reverse: true}
}
