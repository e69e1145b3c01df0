package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"mailgrid/internal/store"
)

// Search: quick (one term against sender, recipients and subject) and advanced (from,
// to, subject, body, date range, attachment, one folder or all). Header criteria are
// matched on the rows' cached Meta; body text through the store's text index
// (store.TextSearcher) when the driver has one, else by reading the bodies of at most
// MailOptions.SearchScanLimit of the newest candidates (Partial says so). Matching is the
// case-insensitive substring match of IMAP SEARCH (store.FoldText).

const (
	maxSearchResults = 500
	maxSearchTerm    = 200
)

type searchQuery struct {
	Q, From, To, Subject, Body string
	Since, Before              string // yyyy-mm-dd
	Attach                     bool
	Folder                     string // folder id, "" = all
	Advanced                   bool
	Truncated, Partial         bool
}

func (s *Server) mailSearch(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	q := r.URL.Query()
	sq := &searchQuery{Q: q.Get("q"), From: q.Get("from"), To: q.Get("to"), Subject: q.Get("subject"),
		Body: q.Get("body"), Since: q.Get("since"), Before: q.Get("before"), Attach: q.Get("attach") == "1",
		Folder: q.Get("folder"), Advanced: q.Get("advanced") == "1"}
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
		sq.Since == "" && sq.Before == "" && !sq.Attach
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
	s.mailRender(w, c, http.StatusOK, "search", d)
}

// headerMatch holds the folded header criteria of a search.
type headerMatch struct {
	q, from, to, subj string
	attach            bool
	since, before     time.Time
	pre               prefilter
}

func newHeaderMatch(sq *searchQuery, since, before time.Time) *headerMatch {
	fold := store.FoldText
	h := &headerMatch{q: fold(sq.Q), from: fold(sq.From), to: fold(sq.To), subj: fold(sq.Subject),
		attach: sq.Attach, since: since, before: before}
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
	var hits []searchHit
	for _, mb := range boxes {
		var bodyUIDs []store.UID
		if body != "" && indexed {
			uids, err := ts.SearchText(ctx, c.ref, mb.ID, store.TextQuery{Needle: sq.Body})
			if err != nil {
				return nil, err
			}
			if len(uids) == 0 {
				continue
			}
			bodyUIDs = uids
		}
		err := c.st.Messages(ctx, c.ref, mb.ID, store.Query{}, func(m store.Message) error {
			if bodyUIDs != nil {
				if _, found := slices.BinarySearch(bodyUIDs, m.UID); !found {
					return nil
				}
			}
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
	if body != "" && !indexed {
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
