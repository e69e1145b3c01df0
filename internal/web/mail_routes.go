package web

// The webmail: server-rendered pages under /mail/ over the account's store shard, on the
// console's listener, sessions, CSRF and headers.
//
// Model:
//   - Every page resolves the signed-in session (pageSession), re-checks that the account
//     may use webmail (directory.ServiceAllowed: for admins too, whose sign-in does not
//     require it) and opens the store shard named by directory.Account.Shard through
//     MailOptions.Shards. Folders and messages are named in URLs by MailboxID and UID, both
//     only meaningful with the session's AccountRef: another account's ids are "not found".
//   - Lists render from the rows' cached message.Info (store.Message.Meta) and flags; a
//     body is opened only to read one message, download a part or search body text.
//   - Unsafe requests are forms (urlencoded, or multipart for compose) carrying the
//     session's CSRF token, behind the listener's cross-origin protection; they redirect
//     back (303) on success and render an error page with a 4xx/5xx status otherwise.
//   - HTML bodies are sanitised (package message/htmlsafe) and served as their own
//     document in a sandboxed iframe under a strict per-frame CSP (mail_read.go).
//   - Sending goes through delivery.Pipeline like SMTP submission (mail_send.go).
//
// Pages work without JavaScript; assets/mail.js adds select-all, drag and drop to a
// folder and keyboard shortcuts.

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"mailgrid/internal/bus"
	"mailgrid/internal/contacts"
	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/fetch"
	"mailgrid/internal/message/htmlsafe"
	"mailgrid/internal/schedule"
	"mailgrid/internal/sms"
	"mailgrid/internal/store"
)

// MailOptions configure the webmail.
type MailOptions struct {
	// Shards opens the account's store shard; nil: Options.Admin.Shards.
	Shards store.Shards
	// Pipeline delivers what the webmail sends (the SMTP submission path); nil: sending
	// is refused with a temporary error (drafts still work).
	Pipeline *delivery.Pipeline
	// Bus carries the store's committed changes to open pages (mail_events.go); nil: no
	// live updates.
	Bus *bus.Bus
	// PageSize is the number of messages per list page (default 50).
	PageSize int
	// MaxMessageBytes bounds a composed message when the sender's domain sets no
	// MaxMessageBytes (default 25 MiB).
	MaxMessageBytes int64
	// SearchScanLimit bounds the messages whose body a search reads when the store has no
	// text index (store.TextSearcher); default 5000.
	SearchScanLimit int
	// FilterState is the filter state the Settings page edits (mail_settings.go): spam
	// level and Sieve scripts; nil: the page answers "not available".
	FilterState MailFilterState
	// Contacts holds the address books (mail_contacts.go); nil: the Contacts pages and
	// compose completion answer "not available".
	Contacts contacts.Store
	// Schedule keeps the scheduled sends (mail_schedule.go); nil: "Send later" and the
	// Scheduled page answer "not available". The node's schedule.Runner sends them
	// through Server.SendScheduled.
	Schedule schedule.Store
	// SMS sends and counts SMS under the domains' plans (mail_sms.go); nil: the SMS page
	// answers "not available".
	SMS *sms.Service
	// Fetch runs and keeps the external POP3 accounts (mail_fetch.go); nil: the page
	// answers "not available".
	Fetch *fetch.Fetcher
}

//go:embed assets/mail.js
var mailJSFS embed.FS

// mailAssets are the webmail's templates, script and sanitiser.
type mailAssets struct {
	t     *template.Template
	js    []byte
	css   []byte
	clean *htmlsafe.Sanitizer
}

func loadMailAssets() (*mailAssets, error) {
	t, err := template.New("mail").Funcs(mailFuncs).ParseFS(assetFS, "assets/mail.html", "assets/mail_compose.html")
	if err != nil {
		return nil, err
	}
	js, err := fs.ReadFile(mailJSFS, "assets/mail.js")
	if err != nil {
		return nil, err
	}
	css, err := fs.ReadFile(assetFS, "assets/mail.css")
	if err != nil {
		return nil, err
	}
	return &mailAssets{t: t, js: js, css: css, clean: htmlsafe.New()}, nil
}

// mailRoutes are the webmail's JSON API routes: the mail API (api_mail.go).
func (s *Server) mailRoutes() []route { return s.mailAPIRoutes() }

// mailPages mounts the webmail's pages; "/" sends users to their mail and admins to the
// console. The webmail's assets are embedded: a template that does not parse is a
// programming error every test meets, logged and answered 500 here.
func (s *Server) mailPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		p := s.pageSession(r)
		switch {
		case p == nil:
			http.Redirect(w, r, "/login?next=%2F", http.StatusSeeOther)
		case p.acct.Role == directory.RoleUser:
			http.Redirect(w, r, "/mail/", http.StatusSeeOther)
		default:
			http.Redirect(w, r, "/console/", http.StatusSeeOther)
		}
	})
	a, err := loadMailAssets()
	if err != nil {
		s.log.Error("webmail: assets", "err", err)
		mux.HandleFunc("/mail/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "webmail unavailable", http.StatusInternalServerError)
		})
		return
	}
	mux.HandleFunc("GET /static/mail.js", func(w http.ResponseWriter, r *http.Request) {
		s.serveAsset(w, "text/javascript; charset=utf-8", a.js)
	})
	mux.HandleFunc("GET /static/mail.css", func(w http.ResponseWriter, r *http.Request) {
		s.serveAsset(w, "text/css; charset=utf-8", a.css)
	})
	page := func(pattern string, h func(w http.ResponseWriter, r *http.Request, c *mailCtx)) {
		mux.HandleFunc(pattern, s.withMail(a, h))
	}
	page("GET /mail/{$}", s.mailHome)
	page("GET /mail/f/{mb}", s.mailList)
	page("GET /mail/m/{mb}/{uid}", s.mailRead)
	page("GET /mail/m/{mb}/{uid}/frame", s.mailFrame)
	page("GET /mail/m/{mb}/{uid}/part/{section}", s.mailPart)
	page("GET /mail/m/{mb}/{uid}/raw", s.mailRaw)
	page("GET /mail/m/{mb}/{uid}/eml", s.mailEML)
	page("POST /mail/act", s.mailAct)
	page("POST /mail/folders", s.mailFolderAct)
	page("GET /mail/compose", s.mailCompose)
	page("POST /mail/compose", s.mailComposePost)
	page("GET /mail/search", s.mailSearch)
	page("GET /mail/events", s.mailEvents(&eventStops{stop: make(chan struct{})}))
	s.mailSettingsPages(a, page)
	s.mailContactsPages(a, page)
	s.mailSMSPages(a, page)
	s.mailSchedulePages(a, page)
	s.mailSignaturePages(a, page)
	s.mailFetchPages(a, page)
	s.mailPrefsPages(a, page)
}

func (s *Server) serveAsset(w http.ResponseWriter, ctype string, b []byte) {
	w.Header().Set("Content-Type", ctype)
	if _, err := w.Write(b); err != nil {
		s.log.Debug("web: write asset", "err", err)
	}
}

// mailCtx is one webmail request: who, which store, their folders.
type mailCtx struct {
	a     *mailAssets
	p     *principal
	st    store.Store
	ref   store.AccountRef
	boxes []store.Mailbox
	ui    uiPrefs // the account's display preferences (mail_prefs.go)
}

// withMail authenticates a page request, checks CSRF on unsafe ones (urlencoded forms;
// compose checks its multipart form itself), opens the store and lists the folders.
func (s *Server) withMail(a *mailAssets, h func(w http.ResponseWriter, r *http.Request, c *mailCtx)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.pageSession(r)
		if p == nil {
			if r.Method != http.MethodGet {
				s.mailError(w, r, &mailCtx{a: a}, http.StatusUnauthorized, "Your session has ended: sign in again.")
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !directory.ServiceAllowed(p.dom, p.acct, directory.ServiceWebmail) {
			s.mailError(w, r, &mailCtx{a: a}, http.StatusForbidden, "Webmail is disabled for this account.")
			return
		}
		if r.Method != http.MethodGet && !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			if err := checkCSRF(r, p); err != nil {
				s.mailError(w, r, &mailCtx{a: a, p: p}, http.StatusForbidden, "The form is stale or was not sent by this page (CSRF token); reload and try again.")
				return
			}
		}
		c, err := s.openMail(r.Context(), p)
		if c != nil {
			c.a = a
		}
		if err != nil {
			s.log.Error("webmail: open store", "account", p.acct.Address.String(), "err", err)
			s.mailError(w, r, &mailCtx{a: a, p: p}, http.StatusServiceUnavailable, "The mail store is not available right now; try again in a moment.")
			return
		}
		s.applyUI(w, r, c)
		h(w, r, c)
	}
}

func (s *Server) shards() store.Shards {
	if s.opt.Mail.Shards != nil {
		return s.opt.Mail.Shards
	}
	return s.svc.Shards
}

// openMail opens p's shard and lists its folders, creating the default ones for an
// account the store does not know yet.
func (s *Server) openMail(ctx context.Context, p *principal) (*mailCtx, error) {
	sh := s.shards()
	if sh == nil {
		return nil, errors.New("no store shards configured")
	}
	st, err := sh.Shard(p.acct.Shard)
	if err != nil {
		return nil, err
	}
	c := &mailCtx{p: p, st: st, ref: store.AccountRef{Domain: p.acct.Address.Domain, ID: p.acct.ID}}
	if err := c.reload(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// reload re-reads the folder list.
func (c *mailCtx) reload(ctx context.Context) error {
	boxes, err := c.st.Mailboxes(ctx, c.ref)
	if errors.Is(err, store.ErrNotFound) || err == nil && len(boxes) == 0 {
		if err = c.st.EnsureAccount(ctx, c.ref); err == nil {
			boxes, err = c.st.Mailboxes(ctx, c.ref)
		}
	}
	c.boxes = boxes
	return err
}

// box finds a folder by the id in a URL.
func (c *mailCtx) box(id string) (store.Mailbox, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return store.Mailbox{}, false
	}
	for _, b := range c.boxes {
		if int64(b.ID) == n {
			return b, true
		}
	}
	return store.Mailbox{}, false
}

// special finds the folder with a special-use role (INBOX for store.Inbox).
func (c *mailCtx) special(use string) (store.Mailbox, bool) {
	for _, b := range c.boxes {
		if use == store.Inbox && store.IsInbox(b.Name) || use != store.Inbox && b.SpecialUse == use {
			return b, true
		}
	}
	return store.Mailbox{}, false
}

// mailHome opens INBOX.
func (s *Server) mailHome(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	in, ok := c.special(store.Inbox)
	if !ok {
		s.mailError(w, r, c, http.StatusServiceUnavailable, "Your INBOX is missing; try again in a moment.")
		return
	}
	to := fmt.Sprintf("/mail/f/%d", in.ID)
	if done := r.URL.Query().Get("done"); flashText(done) != "" {
		to += "?done=" + done
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// backTo is a same-site webmail URL from a form's "back" field, or the fallback.
func backTo(v, fallback string) string {
	if !strings.HasPrefix(v, "/mail/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n\t\x00") {
		return fallback
	}
	if u, err := url.Parse(v); err != nil || u.Host != "" || u.Scheme != "" {
		return fallback
	}
	return v
}
