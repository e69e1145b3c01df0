package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"mailgrid/internal/store"
)

// Search: quick (one term against sender, recipients and subject) and advanced (from,
// to, subject, body, date range, attachment, unread, flagged, one folder or all).
// Matching is the case-insensitive substring match of IMAP SEARCH (store.FoldText); the
// header criteria are decided on the rows' cached Meta.
//
// With the store's text index (store.TextSearcher), a search with a body term takes each
// folder's candidates from the index (the body term, narrowed by each header term's
// longest run of letters and digits, searched in the header text, which holds every such
// run of the From, To, Cc and Subject fields), reads their rows newest UID first in small
// batches and checks them, and merges the folders newest date first until a page is full
// (MailOptions.PageSize or the user's; "page" asks for a later one) (searchIndexed). A
// search with header terms but no body term uses the index the same way only where it
// misses at most maxInlineIndex of the folder's messages (store.TextIndexState; the
// search indexes those itself), since a first build reads every body. Otherwise, and for
// searches without text terms (date range, attachment, unread, flagged), it walks the
// folder's date index (store.Lister, the unread and flagged filters from their partial
// indexes), newest first, checking the rows' cached fields, and stops at the page too. Without an index, every row
// is read and body text comes from at most MailOptions.SearchScanLimit of the newest
// candidates' bodies (Partial says so), at most maxSearchResults results.

const (
	maxSearchResults = 500 // without the text index
	maxSearchTerm    = 200
	maxSearchPage    = 1000
)

type searchQuery struct {
	Q, From, To, Subject, Body string
	Since, Before              string // yyyy-mm-dd
	Attach, Unread, Flagged    bool
	Folder                     string // folder id, "" = all
	Advanced                   bool
	Page                       int  // 1-based, of the indexed search
	Truncated, Partial         bool // Truncated: more results than shown
	paged                      bool // the results are a page: Truncated offers the next
}

func (s *Server) mailSearch(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	q := r.URL.Query()
	sq := &searchQuery{Q: q.Get("q"), From: q.Get("from"), To: q.Get("to"), Subject: q.Get("subject"),
		Body: q.Get("body"), Since: q.Get("since"), Before: q.Get("before"), Attach: q.Get("attach") == "1",
		Folder: q.Get("folder"), Advanced: q.Get("advanced") == "1", Unread: q.Get("unread") == "1",
		Flagged: q.Get("flagged") == "1", Page: 1}
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 && p <= maxSearchPage {
		sq.Page = p
	}
	d := s.pageOf(r.Context(), c, "Search", 0)
	d.Search = sq
	d.Back = r.URL.RequestURI()
	d.Flash = flashText(q.Get("done"))
	for _, t := range []string{sq.Q, sq.From, sq.To, sq.Subject, sq.Body} {
		if len(t) > maxSearchTerm || strings.ContainsFunc(t, unicode.IsControl) {
			d.Error = "Search terms must be single lines of at most 200 characters."
			s.mailRender(w, c, http.StatusUnprocessableEntity, "search", d)
			return
		}
	}
	var since, before time.Time
	var err error
	if sq.Since != "" {
		if since, err = time.Parse("2006-01-02", sq.Since); err != nil {
			d.Error = "The 'since' date must be YYYY-MM-DD."
		}
	}
	if sq.Before != "" {
		if before, err = time.Parse("2006-01-02", sq.Before); err != nil {
			d.Error = "The 'before' date must be YYYY-MM-DD."
		}
	}
	if d.Error != "" {
		s.mailRender(w, c, http.StatusUnprocessableEntity, "search", d)
		return
	}
	empty := sq.Q == "" && sq.From == "" && sq.To == "" && sq.Subject == "" && sq.Body == "" &&
		sq.Since == "" && sq.Before == "" && !sq.Attach && !sq.Unread && !sq.Flagged
	if empty {
		s.mailRender(w, c, http.StatusOK, "search", d)
		return
	}
	rows, err := s.search(r.Context(), c, sq, since, before)
	if err != nil {
		s.log.Error("webmail: search", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "Search is not available right now; try again in a moment.")
		return
	}
	d.Rows, d.Searched = rows, true
	if sq.Page > 1 {
		q.Set("page", strconv.Itoa(sq.Page-1))
		d.Prev = "/mail/search?" + q.Encode()
	}
	if sq.Truncated && sq.paged && sq.Page < maxSearchPage {
		q.Set("page", strconv.Itoa(sq.Page+1))
		d.Next = "/mail/search?" + q.Encode()
	}
	s.mailRender(w, c, http.StatusOK, "search", d)
}

// headerMatch holds the folded header criteria of a search.
type headerMatch struct {
	q, from, to, subj       string
	attach, unread, flagged bool
	since, before           time.Time
	pre                     prefilter
}

func newHeaderMatch(sq *searchQuery, since, before time.Time) *headerMatch {
	fold := store.FoldText
	h := &headerMatch{q: fold(sq.Q), from: fold(sq.From), to: fold(sq.To), subj: fold(sq.Subject),
		attach: sq.Attach, unread: sq.Unread, flagged: sq.Flagged, since: since, before: before}
	for _, t := range []string{h.q, h.from, h.to, h.subj} {
		if t != "" && !strings.ContainsAny(t, jsonEscaped) {
			h.pre.needles = append(h.pre.needles, []byte(t))
		}
	}
	return h
}

// match applies the date range and the header criteria to a row and its Meta.
func (h *headerMatch) match(m store.Message) bool {
	if !h.since.IsZero() && m.InternalDate.Before(h.since) || !h.before.IsZero() && !m.InternalDate.Before(h.before) {
		return false
	}
	if h.unread && store.HasSeen(m.Flags) || h.flagged && !slices.Contains(m.Flags, store.FlagFlagged) {
		return false
	}
	if !h.pre.mayMatch(m.Meta) {
		return false
	}
	var lm listMeta
	if len(m.Meta) > 0 && json.Unmarshal(m.Meta, &lm) != nil {
		return false // unreadable Meta matches nothing
	}
	fold := store.FoldText
	lf, lt, ls := fold(lm.From), fold(lm.To+", "+displayList(lm.Envelope.Cc)), fold(lm.Subject)
	switch {
	case h.attach && !lm.HasAttachment,
		h.q != "" && !strings.Contains(lf, h.q) && !strings.Contains(lt, h.q) && !strings.Contains(ls, h.q),
		h.from != "" && !strings.Contains(lf, h.from),
		h.to != "" && !strings.Contains(lt, h.to),
		h.subj != "" && !strings.Contains(ls, h.subj):
		return false
	}
	return true
}

type searchHit struct {
	m      store.Message
	folder string
}

func (s *Server) search(ctx context.Context, c *mailCtx, sq *searchQuery, since, before time.Time) ([]rowView, error) {
	boxes := c.boxes
	if sq.Folder != "" {
		mb, ok := c.box(sq.Folder)
		if !ok {
			return nil, nil
		}
		boxes = []store.Mailbox{mb}
	}
	hm := newHeaderMatch(sq, since, before)
	body := store.FoldText(sq.Body)
	ts, indexed := c.st.(store.TextSearcher)
	if indexed {
		return s.searchIndexed(ctx, c, ts, boxes, sq, hm)
	}
	var hits []searchHit
	for _, mb := range boxes {
		err := c.st.Messages(ctx, c.ref, mb.ID, store.Query{}, func(m store.Message) error {
			if hm.match(m) {
				hits = append(hits, searchHit{m: m, folder: mb.Name})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(hits, func(a, b searchHit) int {
		return -cmp.Compare(a.m.InternalDate.UnixNano(), b.m.InternalDate.UnixNano())
	})
	if body != "" {
		var err error
		if hits, err = s.scanBodies(ctx, c, sq, hits, body); err != nil {
			return nil, err
		}
	}
	if len(hits) > maxSearchResults {
		hits, sq.Truncated = hits[:maxSearchResults], true
	}
	rows := make([]rowView, 0, len(hits))
	for _, h := range hits {
		rows = append(rows, rowOf(h.m, h.folder))
	}
	return rows, nil
}

// scanBodies keeps the hits whose body text contains the folded needle, reading at most
// SearchScanLimit bodies (the newest; sq.Partial says when there were more).
func (s *Server) scanBodies(ctx context.Context, c *mailCtx, sq *searchQuery, hits []searchHit, needle string) ([]searchHit, error) {
	limit := s.opt.Mail.SearchScanLimit
	if limit <= 0 {
		limit = 5000
	}
	if len(hits) > limit {
		hits, sq.Partial = hits[:limit], true
	}
	kept := hits[:0]
	for _, h := range hits {
		ok, err := bodyContains(ctx, c, h.m, needle)
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, h)
		}
	}
	return kept, nil
}

// bodyContains reads one message's searchable body text (store.ExtractText, the text
// the index would hold) and matches the folded needle.
func bodyContains(ctx context.Context, c *mailCtx, m store.Message, needle string) (bool, error) {
	b, err := c.st.OpenBlob(ctx, c.ref, m.ID)
	if err != nil {
		return false, err
	}
	defer func() { _ = b.Close() }() // read-only
	t, err := store.ExtractText(b, b.Size())
	if err != nil {
		return false, err
	}
	return strings.Contains(store.FoldText(t.Body), needle), nil
}

// jsonEscaped are the characters encoding/json writes escaped (or that delimit strings):
// a needle with none of them appears in a Meta document's raw bytes wherever it appears
// in a decoded field.
const jsonEscaped = "<>&\"\\\u2028\u2029"

// prefilter skips, without decoding it, a row whose raw Meta cannot match: every header
// needle must occur somewhere in the (lower-cased) JSON. Sound, not exact: the decoded
// fields are checked after it.
type prefilter struct{ needles [][]byte }

func (p prefilter) mayMatch(meta []byte) bool {
	if len(p.needles) == 0 {
		return true
	}
	if len(meta) == 0 {
		return false
	}
	low := bytes.ToLower(meta)
	for _, n := range p.needles {
		if !bytes.Contains(low, n) {
			return false
		}
	}
	return true
}

// searchBatch is how many candidate rows one read of a folder fetches.
const searchBatch = 64

// searchIndexed returns page sq.Page of the matches in boxes, newest first (see the top
// of the file). Folders whose index rules every message out cost their index lookups
// only; the rows read are those of the page's candidates and of the pages before it.
func (s *Server) searchIndexed(ctx context.Context, c *mailCtx, ts store.TextSearcher, boxes []store.Mailbox,
	sq *searchQuery, hm *headerMatch) ([]rowView, error) {
	lister, _ := c.st.(store.Lister)
	curs := make([]*searchCursor, 0, len(boxes))
	for _, mb := range boxes {
		cur := &searchCursor{c: c, mb: mb, hm: hm, lister: lister, hi: mb.UIDNext - 1}
		none, err := cur.candidates(ctx, ts, sq)
		if err != nil {
			return nil, err
		}
		if !none {
			curs = append(curs, cur)
		}
	}
	size := s.pageSizeFor(c)
	skip := (sq.Page - 1) * size
	rows := make([]rowView, 0, size)
	sq.paged = true
	for n := 0; n <= skip+size; n++ { // one more than the page: is there a next one?
		best := -1
		for i, cur := range curs {
			if err := cur.fill(ctx); err != nil {
				return nil, err
			}
			if len(cur.buf) > 0 && (best < 0 || cur.buf[0].InternalDate.After(curs[best].buf[0].InternalDate)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		m := curs[best].buf[0]
		curs[best].buf = curs[best].buf[1:]
		switch {
		case n == skip+size:
			sq.Truncated = true
		case n >= skip:
			rows = append(rows, rowOf(m, curs[best].mb.Name))
		}
	}
	return rows, nil
}

// searchCursor yields one folder's matches, newest first, reading rows a batch at a
// time: the index's candidates by descending UID, or with no text term the folder's date
// index (store.Lister) or, without one, its UIDs downwards.
type searchCursor struct {
	c      *mailCtx
	mb     store.Mailbox
	hm     *headerMatch
	lister store.Lister
	uids   []store.UID // ascending candidates; nil: every message
	walk   bool        // no candidates: every message is one
	offset int         // the date walk's next offset
	hi     store.UID   // the highest UID not read yet
	done   bool
	buf    []store.Message // matches read, not taken, newest first
}

// candidates asks the text index for the folder's candidates; none reports that no
// message can match.
func (cur *searchCursor) candidates(ctx context.Context, ts store.TextSearcher, sq *searchQuery) (none bool, err error) {
	var terms []store.TextQuery
	if sq.Body != "" {
		terms = append(terms, store.TextQuery{Needle: sq.Body})
	}
	for _, t := range []string{cur.hm.q, cur.hm.from, cur.hm.to, cur.hm.subj} {
		if w := longestWord(t); len(w) >= 3 { // shorter runs select too little to pay
			terms = append(terms, store.TextQuery{Needle: w, Header: true})
		}
	}
	if sq.Body == "" && len(terms) > 0 {
		// Header terms alone use the folder's text index only when it is (nearly)
		// current: a first build reads every body (minutes for 100,000 messages), where
		// walking the rows' cached fields newest first costs what the scan did. With a
		// body term the index is built (or brought up to date) anyway.
		ok, err := cur.indexCurrent(ctx)
		if err != nil {
			return false, err
		}
		if !ok {
			terms = nil
		}
	}
	if len(terms) == 0 {
		cur.walk = true
		return false, nil
	}
	for i, tq := range terms {
		uids, err := ts.SearchText(ctx, cur.c.ref, cur.mb.ID, tq)
		if err != nil {
			return false, err
		}
		if i == 0 {
			cur.uids = uids
		} else {
			cur.uids = intersectUIDs(cur.uids, uids)
		}
		if len(cur.uids) == 0 {
			return true, nil
		}
	}
	return false, nil
}

// maxInlineIndex is how many unindexed messages a header-only search indexes itself
// before using a folder's text index; with more it walks the rows.
const maxInlineIndex = 200

// indexCurrent reports whether the folder's text index misses at most maxInlineIndex
// messages (store.TextIndexState); false without that interface.
func (cur *searchCursor) indexCurrent(ctx context.Context) (bool, error) {
	st, ok := cur.c.st.(store.TextIndexState)
	if !ok {
		return false, nil
	}
	n, err := st.TextUnindexed(ctx, cur.c.ref, cur.mb.ID, maxInlineIndex+1)
	if err != nil {
		return false, err
	}
	return n <= maxInlineIndex, nil
}

// longestWord is the longest run of letters and digits in a folded term: wherever the
// term occurs in a From, To, Cc or Subject display, the run occurs in the header text
// (the display's runs are runs of the decoded header fields).
func longestWord(t string) string {
	best := ""
	for _, w := range strings.FieldsFunc(t, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(w) > len(best) {
			best = w
		}
	}
	return best
}

// intersectUIDs returns the UIDs in both ascending lists.
func intersectUIDs(a, b []store.UID) []store.UID {
	var out []store.UID
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// fill reads batches until the cursor holds a match or has none left.
func (cur *searchCursor) fill(ctx context.Context) error {
	for len(cur.buf) == 0 && !cur.done {
		var err error
		switch {
		case !cur.walk:
			err = cur.readCandidates(ctx)
		case cur.lister != nil:
			err = cur.readByDate(ctx)
		default:
			err = cur.readDown(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// keep appends the matches of a batch, given newest first.
func (cur *searchCursor) keep(ms []store.Message) {
	for _, m := range ms {
		if cur.hm.match(m) {
			cur.buf = append(cur.buf, m)
		}
	}
}

// readCandidates reads the next batch of candidates, highest UIDs first: one range read
// where they are dense, else one read each.
func (cur *searchCursor) readCandidates(ctx context.Context) error {
	n := min(searchBatch, len(cur.uids))
	batch := cur.uids[len(cur.uids)-n:]
	cur.uids = cur.uids[:len(cur.uids)-n]
	cur.done = len(cur.uids) == 0
	lo, hi := batch[0], batch[n-1]
	var ms []store.Message
	collect := func(m store.Message) error {
		if _, ok := slices.BinarySearch(batch, m.UID); ok {
			ms = append(ms, m)
		}
		return nil
	}
	if int64(hi-lo) < 4*int64(n) {
		if err := cur.c.st.Messages(ctx, cur.c.ref, cur.mb.ID, store.Query{MinUID: lo, MaxUID: hi}, collect); err != nil {
			return err
		}
	} else {
		for _, u := range batch {
			if err := cur.c.st.Messages(ctx, cur.c.ref, cur.mb.ID, store.Query{MinUID: u, MaxUID: u}, collect); err != nil {
				return err
			}
		}
	}
	slices.Reverse(ms)
	cur.keep(ms)
	return nil
}

// readByDate reads the next page of the folder's date index, newest first, with the
// unread or flagged filter served by the store.
func (cur *searchCursor) readByDate(ctx context.Context) error {
	q := store.ListQuery{Sort: store.SortDate, Desc: true, Limit: searchBatch * 4, Offset: cur.offset}
	switch {
	case cur.hm.unread:
		q.Filter = store.FilterUnseen
	case cur.hm.flagged:
		q.Filter = store.FilterFlagged
	}
	p, err := cur.lister.ListMessages(ctx, cur.c.ref, cur.mb.ID, q)
	if err != nil {
		return err
	}
	cur.offset += len(p.Messages)
	cur.done = len(p.Messages) < q.Limit || cur.offset >= p.Total
	if n := len(p.Messages); n > 0 && !cur.hm.since.IsZero() && p.Messages[n-1].InternalDate.Before(cur.hm.since) {
		cur.done = true // in date order: the rest is older still
	}
	cur.keep(p.Messages)
	return nil
}

// readDown reads the next UID range downwards (no date index).
func (cur *searchCursor) readDown(ctx context.Context) error {
	if cur.hi < 1 {
		cur.done = true
		return nil
	}
	lo := store.UID(1)
	if cur.hi > searchBatch*4 {
		lo = cur.hi - searchBatch*4 + 1
	}
	var ms []store.Message
	err := cur.c.st.Messages(ctx, cur.c.ref, cur.mb.ID, store.Query{MinUID: lo, MaxUID: cur.hi}, func(m store.Message) error {
		ms = append(ms, m)
		return nil
	})
	if err != nil {
		return err
	}
	cur.hi = lo - 1
	slices.Reverse(ms)
	cur.keep(ms)
	return nil
}
