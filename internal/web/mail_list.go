package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/delivery"
	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// Message lists. A store with sort indexes (store.Lister, both drivers) gives the page
// itself: a folder of 100,000 messages lists as fast as one of 100. Without one, the page
// is chosen from the rows without their Meta (flags, internal date and size are row
// fields), and only the page's rows are read with Meta; sorting by sender or subject then
// reads the small normalised fields of every row's Meta.

// folderView is one folder in the sidebar.
type folderView struct {
	ID         store.MailboxID
	Name       string // full name
	Label      string // last component
	Depth      int
	SpecialUse string
	Messages   int
	Unseen     int
	Current    bool
	Protected  bool // INBOX and special-use folders cannot be renamed or deleted
}

// rowView is one message in a list.
type rowView struct {
	Mailbox    store.MailboxID
	Folder     string // the folder's name (search results span folders)
	UID        store.UID
	From       string
	To         string
	Subject    string
	Date       time.Time
	Size       int64
	Seen       bool
	Flagged    bool
	Answered   bool
	Draft      bool
	Attachment bool
	Count      int    // conversation view: messages in the conversation
	ThreadURL  string // conversation view: the conversation expanded
}

// mailPage is what every webmail template gets.
type mailPage struct {
	Title    string
	CSRF     string
	Me       string
	Folders  []folderView
	Quota    quotaView
	Error    string
	Flash    string
	Folder   *folderView // the open folder
	Rows     []rowView
	List     listQuery
	Total    int
	Pages    []pageLink
	Prev     string
	Next     string
	Back     string // this page's URL, for forms to return to
	Msg      *readView
	Compose  *composeView
	Search   *searchQuery
	Searched bool
	Status   int
	UI       uiPrefs // language, zone, theme, layout (mail_prefs.go)
	SMS      bool    // the SMS link and "Send as SMS" are shown (mail_sms.go smsShown)
}

type quotaView struct {
	Used, Limit int64
	Percent     int
}

type pageLink struct {
	N       int
	URL     string
	Current bool
}

// listQuery is a list page's sort, filter and page.
type listQuery struct {
	Sort   string // date, from, subject, size
	Desc   bool
	Filter string // "", unread, flagged
	Page   int    // 1-based
	Thread bool   // conversation view (mail_thread.go)
	T      string // the conversation shown expanded ("" = the list of conversations)
}

func parseListQuery(q url.Values) listQuery {
	l := listQuery{Sort: q.Get("sort"), Filter: q.Get("filter"), Desc: q.Get("order") != "asc"}
	if !slices.Contains([]string{"date", "from", "subject", "size"}, l.Sort) {
		l.Sort = "date"
	}
	if l.Filter != "unread" && l.Filter != "flagged" {
		l.Filter = ""
	}
	l.Page, _ = strconv.Atoi(q.Get("page"))
	l.Page = max(l.Page, 1)
	l.Thread = q.Get("thread") == "1"
	if l.Thread {
		l.T = q.Get("t")
	}
	return l
}

// URL is the list URL of folder mb with l's settings, changed by set ("sort=from").
func (l listQuery) URL(mb store.MailboxID, set ...string) string {
	v := url.Values{}
	v.Set("sort", l.Sort)
	if !l.Desc {
		v.Set("order", "asc")
	}
	if l.Filter != "" {
		v.Set("filter", l.Filter)
	}
	if l.Page > 1 {
		v.Set("page", strconv.Itoa(l.Page))
	}
	if l.Thread {
		v.Set("thread", "1")
	}
	for _, kv := range set {
		k, val, _ := strings.Cut(kv, "=")
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
		if k != "page" {
			v.Del("page")
		}
	}
	return fmt.Sprintf("/mail/f/%d?%s", mb, v.Encode())
}

// SortURL toggles the order when key is the current sort.
func (l listQuery) SortURL(mb store.MailboxID, key string) string {
	order := "desc"
	if key == l.Sort && l.Desc {
		order = "asc"
	}
	if key == "from" || key == "subject" {
		if key != l.Sort {
			order = "asc"
		}
	}
	return l.URL(mb, "sort="+key, "order="+order)
}

// pageData builds the common part of a webmail page.
func (s *Server) pageOf(ctx context.Context, c *mailCtx, title string, current store.MailboxID) mailPage {
	d := mailPage{Title: title}
	if c == nil || c.p == nil {
		return d
	}
	d.CSRF, d.Me, d.UI = c.p.csrf(), c.p.acct.Address.String(), c.ui
	d.SMS = s.smsShown(ctx, c)
	for _, b := range c.boxes {
		parts := strings.Split(b.Name, store.MailboxSeparator)
		f := folderView{ID: b.ID, Name: b.Name, Label: parts[len(parts)-1], Depth: len(parts) - 1,
			SpecialUse: b.SpecialUse, Messages: b.Messages, Unseen: b.Unseen, Current: b.ID == current,
			Protected: store.IsInbox(b.Name) || b.SpecialUse != ""}
		d.Folders = append(d.Folders, f)
	}
	// INBOX first, then the special-use folders in their usual order, then the rest.
	rank := func(f folderView) int {
		if store.IsInbox(f.Name) {
			return 0
		}
		if i := slices.Index([]string{store.Drafts, store.Sent, store.Archive, store.Junk, store.Trash}, f.SpecialUse); i >= 0 && f.Depth == 0 {
			return 1 + i
		}
		return 10
	}
	slices.SortStableFunc(d.Folders, func(a, b folderView) int { return cmp.Compare(rank(a), rank(b)) })
	for i := range d.Folders {
		if d.Folders[i].Current {
			d.Folder = &d.Folders[i]
		}
	}
	if c.st != nil {
		u, err := c.st.Usage(ctx, c.ref)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("webmail: usage", "err", err)
		}
		q := delivery.Quota(c.p.acct, c.p.dom)
		d.Quota = quotaView{Used: u.Bytes, Limit: q.Bytes}
		if q.Bytes > 0 {
			d.Quota.Percent = int(min(100, u.Bytes*100/q.Bytes))
		}
	}
	return d
}

// listMeta is the part of message.Info a list sorts and shows.
type listMeta struct {
	Subject       string           `json:"subject"`
	From          string           `json:"from"`
	To            string           `json:"to"`
	Date          time.Time        `json:"date"`
	HasAttachment bool             `json:"attach"`
	Envelope      message.Envelope `json:"env"`
}

func rowOf(m store.Message, folder string) rowView {
	r := rowView{Mailbox: m.MailboxID, Folder: folder, UID: m.UID, Date: m.InternalDate, Size: m.Size,
		Seen: slices.Contains(m.Flags, store.FlagSeen), Flagged: slices.Contains(m.Flags, store.FlagFlagged),
		Answered: slices.Contains(m.Flags, store.FlagAnswered), Draft: slices.Contains(m.Flags, store.FlagDraft)}
	var lm listMeta
	if len(m.Meta) > 0 && json.Unmarshal(m.Meta, &lm) == nil {
		r.Subject, r.To, r.Attachment = lm.Subject, lm.To, lm.HasAttachment
		r.From = shortAddress(lm.Envelope.From)
		if r.From == "" {
			r.From = lm.From
		}
	}
	if r.Subject == "" {
		r.Subject = "(no subject)"
	}
	return r
}

// shortAddress is the first address's name, else its address.
func shortAddress(list []message.Address) string {
	if len(list) == 0 {
		return ""
	}
	if list[0].Name != "" {
		return list[0].Name
	}
	if list[0].Host == "" {
		return list[0].Mailbox
	}
	return list[0].Mailbox + "@" + list[0].Host
}

func (s *Server) mailList(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	mb, ok := c.box(r.PathValue("mb"))
	if !ok {
		s.mailError(w, r, c, http.StatusNotFound, "No such folder.")
		return
	}
	l := parseListQuery(r.URL.Query())
	d := s.pageOf(r.Context(), c, mb.Name, mb.ID)
	d.List = l
	d.Back = r.URL.RequestURI()
	d.Flash = flashText(r.URL.Query().Get("done"))
	rows, total, err := s.listPage(r.Context(), c, mb, l)
	if err != nil {
		s.log.Error("webmail: list", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, "The folder could not be read right now; try again in a moment.")
		return
	}
	d.Rows, d.Total = rows, total
	size := s.pageSizeFor(c)
	pages := (total + size - 1) / size
	for n := max(1, l.Page-5); n <= min(pages, l.Page+5); n++ {
		d.Pages = append(d.Pages, pageLink{N: n, URL: l.URL(mb.ID, "page="+strconv.Itoa(n)), Current: n == l.Page})
	}
	if l.Page > 1 {
		d.Prev = l.URL(mb.ID, "page="+strconv.Itoa(l.Page-1))
	}
	if l.Page < pages {
		d.Next = l.URL(mb.ID, "page="+strconv.Itoa(l.Page+1))
	}
	s.mailRender(w, c, http.StatusOK, "list", d)
}

func (s *Server) pageSize() int {
	if s.opt.Mail.PageSize > 0 {
		return s.opt.Mail.PageSize
	}
	return 50
}

// listPage returns page l.Page of folder mb and the number of messages that pass the
// filter.
func (s *Server) listPage(ctx context.Context, c *mailCtx, mb store.Mailbox, l listQuery) ([]rowView, int, error) {
	if l.Thread {
		return s.threadPage(ctx, c, mb, l)
	}
	if lister, ok := c.st.(store.Lister); ok {
		return s.listIndexed(ctx, lister, c, mb, l)
	}
	byMeta := l.Sort == "from" || l.Sort == "subject"
	type entry struct {
		m   store.Message
		key string
	}
	var all []entry
	err := c.st.Messages(ctx, c.ref, mb.ID, store.Query{NoMeta: !byMeta}, func(m store.Message) error {
		switch {
		case l.Filter == "unread" && slices.Contains(m.Flags, store.FlagSeen),
			l.Filter == "flagged" && !slices.Contains(m.Flags, store.FlagFlagged):
			return nil
		}
		e := entry{m: m}
		if byMeta {
			e.key = sortKey(m.Meta, l.Sort)
			e.m.Meta = nil // keep memory to the keys
		}
		all = append(all, e)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	slices.SortStableFunc(all, func(a, b entry) int {
		var o int
		switch l.Sort {
		case "size":
			o = cmp.Compare(a.m.Size, b.m.Size)
		case "from", "subject":
			o = cmp.Compare(a.key, b.key)
		default:
			o = a.m.InternalDate.Compare(b.m.InternalDate)
		}
		if o == 0 {
			o = cmp.Compare(a.m.UID, b.m.UID)
		}
		if l.Desc {
			return -o
		}
		return o
	})
	size := s.pageSizeFor(c)
	from := min((l.Page-1)*size, len(all))
	to := min(from+size, len(all))
	rows := make([]rowView, 0, to-from)
	for _, e := range all[from:to] {
		m, err := c.one(ctx, mb.ID, e.m.UID)
		if errors.Is(err, store.ErrNotFound) {
			continue // expunged meanwhile
		}
		if err != nil {
			return nil, 0, err
		}
		rows = append(rows, rowOf(m, mb.Name))
	}
	return rows, len(all), nil
}

// listIndexed reads page l.Page through the store's sort indexes (store.Lister): only
// the page's rows are read, whatever the folder's size.
func (s *Server) listIndexed(ctx context.Context, lister store.Lister, c *mailCtx, mb store.Mailbox, l listQuery) ([]rowView, int, error) {
	size := min(s.pageSizeFor(c), store.MaxListLimit)
	q := store.ListQuery{Sort: l.Sort, Desc: l.Desc, Offset: (l.Page - 1) * size, Limit: size}
	switch l.Filter {
	case "unread":
		q.Filter = store.FilterUnseen
	case "flagged":
		q.Filter = store.FilterFlagged
	}
	page, err := lister.ListMessages(ctx, c.ref, mb.ID, q)
	if err != nil {
		return nil, 0, err
	}
	rows := make([]rowView, 0, len(page.Messages))
	for _, m := range page.Messages {
		rows = append(rows, rowOf(m, mb.Name))
	}
	return rows, page.Total, nil
}

// one reads a message row with its Meta.
func (c *mailCtx) one(ctx context.Context, mb store.MailboxID, uid store.UID) (store.Message, error) {
	var out store.Message
	found := false
	err := c.st.Messages(ctx, c.ref, mb, store.Query{MinUID: uid, MaxUID: uid, Limit: 1}, func(m store.Message) error {
		out, found = m, true
		return nil
	})
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return out, err
}

// stripReplyPrefix removes "Re:", "Fwd:" and the like for sorting by subject.
func stripReplyPrefix(s string) string {
	for {
		t := strings.TrimSpace(s)
		l := strings.ToLower(t)
		cut := false
		for _, p := range []string{"re:", "fwd:", "fw:", "aw:", "wg:", "tr:"} {
			if strings.HasPrefix(l, p) {
				t, cut = t[len(p):], true
				break
			}
		}
		if !cut {
			return t
		}
		s = t
	}
}

// flashText maps a fixed flash key to its text (never a reflected string).
func flashText(key string) string {
	return map[string]string{
		"sent": "Message sent.", "draft": "Draft saved.", "moved": "Moved.", "deleted": "Deleted.",
		"trashed": "Moved to Trash.", "flags": "Updated.", "created": "Folder created.",
		"renamed": "Folder renamed.", "folder-deleted": "Folder deleted; its messages are in Trash.",
		"sent-nocopy": "Message sent, but the copy in Sent could not be saved.",
	}[key]
}

// mailRender writes a webmail page.
func (s *Server) mailRender(w http.ResponseWriter, c *mailCtx, status int, name string, d mailPage) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	d.Status = status
	if err := c.a.t.ExecuteTemplate(w, name, d); err != nil {
		s.log.Error("webmail: render", "template", name, "err", err)
	}
}

// sortKey decodes only what sorting by "from" or "subject" needs of a row's Meta.
func sortKey(meta []byte, by string) string {
	if len(meta) == 0 {
		return ""
	}
	if by == "from" {
		var k struct {
			Env struct {
				From []message.Address `json:"from"`
			} `json:"env"`
		}
		if json.Unmarshal(meta, &k) != nil {
			return ""
		}
		return strings.ToLower(shortAddress(k.Env.From))
	}
	var k struct {
		Subject string `json:"subject"`
	}
	if json.Unmarshal(meta, &k) != nil {
		return ""
	}
	return strings.ToLower(stripReplyPrefix(k.Subject))
}
