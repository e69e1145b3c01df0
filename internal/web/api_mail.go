package web

// The mail JSON API: the caller's own mail under /api/v1/mail, for programs (a bearer
// token with scope "mail") and for the webmail's own scripts (the session cookie, with the
// CSRF header on unsafe requests).
//
// Model:
//   - Every call opens the caller's store shard and names the caller's AccountRef (the
//     same mailCtx the webmail pages use); mailboxes and messages are named by MailboxID
//     and UID, which mean something only with that account: another account's ids are
//     404 not_found, exactly like ids that never existed.
//   - Messages are named in query parameters (?mailbox=ID&uid=N) and, for changes, in the
//     JSON body as a mailbox and a list of UIDs (multi-select is one call). A change names
//     only messages that exist, or it changes nothing and answers 404.
//   - Lists come from the store's sort indexes (store.Lister): a page costs the same in a
//     folder of 100,000 messages as in one of 100.
//   - A message is read as JSON (headers, the text body, the HTML body sanitised by the
//     webmail's policy with remote images blocked and cid: images inlined, the attachment
//     list); raw sources and attachments are downloads (Content-Disposition attachment,
//     nosniff, "CSP: sandbox"), as on the webmail. Reading does not set \Seen: flags are
//     set with their own call.
//   - Sending is the webmail's submission path (mail_send.go): send-as identities,
//     recipient checks, one Pipeline.Deliver, the copy in Sent.
//
// Errors are the API's ({"error":{"code","message"}}); a fault of the store is 503
// unavailable (temporary), never a permanent refusal.

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/message"
	"mailgrid/internal/message/htmlsafe"
	"mailgrid/internal/store"
)

// ScopeMail is the token scope of the mail API: the caller's own mail, read and write.
const ScopeMail = "mail"

// mailAPI serves the mail API; its sanitiser is the webmail's policy.
type mailAPI struct {
	s     *Server
	clean *htmlsafe.Sanitizer
}

type mailHandler func(w http.ResponseWriter, r *http.Request, c *mailCtx) error

// mailAPIRoutes are the mail API's routes.
func (s *Server) mailAPIRoutes() []route {
	m := &mailAPI{s: s, clean: htmlsafe.New()}
	r := func(method, path string, h mailHandler) route {
		return route{Route{method, "/api/v1/mail" + path, AuthAny, ScopeMail}, m.with(h)}
	}
	return []route{
		r("GET", "/mailboxes", m.mailboxes),
		r("GET", "/messages", m.list),
		r("GET", "/message", m.read),
		r("GET", "/message/raw", m.raw),
		r("GET", "/message/attachment", m.attachment),
		r("POST", "/messages/flags", m.flags),
		r("POST", "/messages/move", m.move),
		r("POST", "/messages/delete", m.delete),
		r("POST", "/send", m.send),
	}
}

// with checks that the account may use its mail and opens its store.
func (m *mailAPI) with(h mailHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if !directory.ServiceAllowed(p.dom, p.acct, directory.ServiceWebmail) {
			return apiErr(http.StatusForbidden, "service_disabled", "webmail (and its API) is disabled for this account")
		}
		c, err := m.s.openMail(r.Context(), p)
		if err != nil {
			m.s.log.Error("mail api: open store", "account", p.acct.Address.String(), "err", err)
			return errUnavailable()
		}
		return h(w, r, c)
	}
}

func errUnavailable() *apiError {
	return apiErr(http.StatusServiceUnavailable, "unavailable", "the mail store is not available right now; try again")
}

// storeErr maps a store error: not found and invalid are the caller's, anything else is
// a temporary fault.
func (m *mailAPI) storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errNotFound()
	case errors.Is(err, store.ErrInvalid):
		return apiErr(http.StatusBadRequest, "invalid", "%v", err)
	case errors.Is(err, store.ErrOverQuota):
		return apiErr(http.StatusInsufficientStorage, "over_quota", "the mailbox is full")
	}
	m.s.log.Error("mail api: store", "err", err)
	return errUnavailable()
}

// mailboxJSON is one mailbox with its counters.
type mailboxJSON struct {
	ID         store.MailboxID `json:"id"`
	Name       string          `json:"name"`
	SpecialUse string          `json:"special_use,omitempty"`
	Subscribed bool            `json:"subscribed"`
	Messages   int             `json:"messages"`
	Unseen     int             `json:"unseen"`
	Size       int64           `json:"size"`
}

// mailboxes lists the caller's mailboxes (GET /api/v1/mail/mailboxes).
func (m *mailAPI) mailboxes(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	out := make([]mailboxJSON, 0, len(c.boxes))
	for _, b := range c.boxes {
		out = append(out, mailboxJSON{ID: b.ID, Name: b.Name, SpecialUse: b.SpecialUse, Subscribed: b.Subscribed,
			Messages: b.Messages, Unseen: b.Unseen, Size: b.Size})
	}
	m.s.writeJSON(w, http.StatusOK, map[string]any{"items": out})
	return nil
}

// summaryJSON is a message in a list.
type summaryJSON struct {
	Mailbox       store.MailboxID `json:"mailbox"`
	UID           store.UID       `json:"uid"`
	Subject       string          `json:"subject"`
	From          string          `json:"from"`
	To            string          `json:"to"`
	Date          *time.Time      `json:"date"`     // the Date field; null if missing or bad
	Received      time.Time       `json:"received"` // the internal date
	Size          int64           `json:"size"`
	Flags         []string        `json:"flags"`
	HasAttachment bool            `json:"has_attachment"`
}

func summaryOf(msg store.Message, info *message.Info) summaryJSON {
	s := summaryJSON{Mailbox: msg.MailboxID, UID: msg.UID, Received: msg.InternalDate, Size: msg.Size, Flags: msg.Flags}
	if s.Flags == nil {
		s.Flags = []string{}
	}
	if info != nil {
		s.Subject, s.From, s.To, s.HasAttachment = info.Subject, info.From, info.To, info.HasAttachment
		if !info.Date.IsZero() {
			d := info.Date
			s.Date = &d
		}
	}
	return s
}

// metaInfo decodes a row's cached message.Info; nil if it has none.
func metaInfo(meta []byte) *message.Info {
	info := &message.Info{}
	if len(meta) == 0 || json.Unmarshal(meta, info) != nil {
		return nil
	}
	return info
}

// apiMailbox finds the caller's mailbox named by a query or body id.
func apiMailbox(c *mailCtx, id string) (store.Mailbox, error) {
	mb, ok := c.box(id)
	if !ok {
		return mb, errNotFound()
	}
	return mb, nil
}

// listQueryOf parses a list request's sort, order, filter, offset and limit.
func listQueryOf(r *http.Request) (store.ListQuery, error) {
	v := r.URL.Query()
	q := store.ListQuery{Sort: v.Get("sort"), Desc: v.Get("order") != "asc", Limit: 50}
	if q.Sort == "" {
		q.Sort = store.SortDate
	}
	switch v.Get("filter") {
	case "":
	case "unseen":
		q.Filter = store.FilterUnseen
	case "flagged":
		q.Filter = store.FilterFlagged
	default:
		return q, apiErr(http.StatusBadRequest, "invalid", "filter: unseen or flagged")
	}
	if o := v.Get("order"); o != "" && o != "asc" && o != "desc" {
		return q, apiErr(http.StatusBadRequest, "invalid", "order: asc or desc")
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"offset", &q.Offset}, {"limit", &q.Limit}} {
		if s := v.Get(f.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return q, apiErr(http.StatusBadRequest, "invalid", "%s: a number", f.name)
			}
			*f.dst = n
		}
	}
	if err := q.Valid(); err != nil {
		return q, apiErr(http.StatusBadRequest, "invalid",
			"sort: date, from, subject or size; offset >= 0; limit 1 to %d", store.MaxListLimit)
	}
	return q, nil
}

// list answers one page of a mailbox (GET /api/v1/mail/messages?mailbox=ID).
func (m *mailAPI) list(w http.ResponseWriter, r *http.Request, c *mailCtx) error {
	mb, err := apiMailbox(c, r.URL.Query().Get("mailbox"))
	if err != nil {
		return err
	}
	q, err := listQueryOf(r)
	if err != nil {
		return err
	}
	lister, ok := c.st.(store.Lister)
	if !ok {
		m.s.log.Error("mail api: the store has no sort indexes (store.Lister)")
		return errUnavailable()
	}
	page, err := lister.ListMessages(r.Context(), c.ref, mb.ID, q)
	if err != nil {
		return m.storeErr(err)
	}
	items := make([]summaryJSON, 0, len(page.Messages))
	for _, msg := range page.Messages {
		items = append(items, summaryOf(msg, metaInfo(msg.Meta)))
	}
	m.s.writeJSON(w, http.StatusOK, map[string]any{"total": page.Total, "offset": q.Offset, "items": items})
	return nil
}

// located is the message a request names, with its parsed Info.
func (m *mailAPI) located(r *http.Request, c *mailCtx) (*opened, error) {
	mb, err := apiMailbox(c, r.URL.Query().Get("mailbox"))
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(r.URL.Query().Get("uid"), 10, 32)
	if err != nil || uid == 0 {
		return nil, errNotFound()
	}
	o, err := m.s.openUID(r.Context(), c, mb, store.UID(uid))
	if err != nil {
		return nil, m.storeErr(err)
	}
	return o, nil
}

// slicesOrEmpty keeps JSON arrays non-null.
func slicesOrEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return slices.Clip(s)
}
