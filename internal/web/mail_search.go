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

func (s *Server) search(ctx context.Context, c *mailCtx, sq *searchQuery, since, before time.Time) ([]rowView, error) {
	boxes := c.boxes
	if sq.Folder != "" {
		mb, ok := c.box(sq.Folder)
		if !ok {
			return nil, nil
		}
		boxes = []store.Mailbox{mb}
	}
	fold := store.FoldText
	qq, from, to, subj, body := fold(sq.Q), fold(sq.From), fold(sq.To), fold(sq.Subject), fold(sq.Body)
	pre := prefilter{}
	for _, t := range []string{qq, from, to, subj} {
		if t != "" && !strings.ContainsAny(t, jsonEscaped) {
			pre.needles = append(pre.needles, []byte(t))
		}
	}
	ts, indexed := c.st.(store.TextSearcher)
	type hit struct {
		m      store.Message
		folder string
	}
	var hits []hit
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
			if !since.IsZero() && m.InternalDate.Before(since) || !before.IsZero() && !m.InternalDate.Before(before) {
				return nil
			}
			if bodyUIDs != nil {
				if _, found := slices.BinarySearch(bodyUIDs, m.UID); !found {
					return nil
				}
			}
			if !pre.mayMatch(m.Meta) {
				return nil
			}
			var lm listMeta
			if len(m.Meta) > 0 {
				if err := json.Unmarshal(m.Meta, &lm); err != nil {
					return nil // unreadable Meta matches nothing
				}
			}
			lf, lt, ls := fold(lm.From), fold(lm.To+", "+displayList(lm.Envelope.Cc)), fold(lm.Subject)
			switch {
			case sq.Attach && !lm.HasAttachment,
				qq != "" && !strings.Contains(lf, qq) && !strings.Contains(lt, qq) && !strings.Contains(ls, qq),
				from != "" && !strings.Contains(lf, from),
				to != "" && !strings.Contains(lt, to),
				subj != "" && !strings.Contains(ls, subj):
				return nil
			}
			hits = append(hits, hit{m: m, folder: mb.Name})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return -cmp.Compare(a.m.InternalDate.UnixNano(), b.m.InternalDate.UnixNano()) })
	if body != "" && !indexed {
		limit := s.opt.Mail.SearchScanLimit
		if limit <= 0 {
			limit = 5000
		}
		if len(hits) > limit {
			hits, sq.Partial = hits[:limit], true
		}
		kept := hits[:0]
		for _, h := range hits {
			ok, err := bodyContains(ctx, c, h.m, body)
			if err != nil {
				return nil, err
			}
			if ok {
				kept = append(kept, h)
			}
		}
		hits = kept
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
