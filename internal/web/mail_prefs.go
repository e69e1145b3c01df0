package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	// Time zones by IANA name even on a host without /usr/share/zoneinfo.
	_ "time/tzdata"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// Display preferences of the webmail (/mail/prefs): page size, time zone, language,
// theme, layout, and the senders whose remote images load without a click.
//
// Model: one Prefs value per account, a JSON document (PrefsDoc) among the account's
// documents in the filter state (filter.AccountDocs: shared by every node; not a Sieve
// script, so ManageSieve clients never see it). withMail loads it once per request into
// mailCtx.ui (uiPrefs), which the templates and handlers read: nothing is cached across
// requests, so a saved change is in force on the next page, on every node.
//
// Defaults until chosen: page size MailOptions.PageSize, UTC (the page offers the
// browser's zone), the language of Accept-Language, the browser's light or dark scheme,
// the list-only layout.

// PrefsDoc is the name of the account document that holds the preferences.
const PrefsDoc = "webmail.prefs"

const (
	maxImageSenders   = 500
	minPageSize       = 10
	maxPageSize       = 200
	layoutList        = "list"
	layoutPane        = "pane"
	listDateLayout    = "2006-01-02 15:04"
	readDateLayout    = "Mon, 2006-01-02 15:04 MST"
	maxPrefsTZNameLen = 64
)

// themes are the page themes; "" follows the browser (prefers-color-scheme).
var themes = []string{"light", "dark", "contrast"}

// Prefs are one account's display preferences (the stored JSON).
type Prefs struct {
	PageSize     int      `json:"page_size,omitempty"`
	TimeZone     string   `json:"tz,omitempty"`     // IANA name; "" UTC
	Lang         string   `json:"lang,omitempty"`   // en, zh-CN; "" Accept-Language
	Theme        string   `json:"theme,omitempty"`  // light, dark, contrast; "" the browser's
	Layout       string   `json:"layout,omitempty"` // list, pane; "" list
	ImageSenders []string `json:"image_senders,omitempty"`
}

// uiPrefs are the preferences in force for one request, as pages use them. Its zero
// value is English, UTC, the browser's theme and the list layout.
type uiPrefs struct {
	P      Prefs
	Lang   string // the effective language
	Theme  string
	Layout string
	Zone   string // the zone's name, "UTC" by default
	loc    *time.Location
}

// Date is t in the user's zone for lists.
func (u uiPrefs) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(u.Location()).Format(listDateLayout)
}

// HeaderDate shows a Date header field (RFC 5322 3.3) in the user's zone; a value that
// does not parse is shown as it is.
func (u uiPrefs) HeaderDate(v string) string {
	t, err := mailParseDate(v)
	if err != nil {
		return v
	}
	return t.In(u.Location()).Format(readDateLayout)
}

// Location is the user's time zone (UTC until chosen).
func (u uiPrefs) Location() *time.Location {
	if u.loc == nil {
		return time.UTC
	}
	return u.loc
}

// ImagesAllowed reports whether every From address of a message is on the user's list
// of senders whose remote images load without a click.
func (u uiPrefs) ImagesAllowed(from []message.Address) bool {
	if len(from) == 0 || len(u.P.ImageSenders) == 0 {
		return false
	}
	for _, a := range from {
		if !slices.Contains(u.P.ImageSenders, normSender(addrString(a))) {
			return false
		}
	}
	return true
}

// loadUI reads the account's preferences for one request; a fault of the filter state
// is logged and the defaults apply (the page still works).
func (s *Server) loadUI(r *http.Request, c *mailCtx) uiPrefs {
	var p Prefs
	if fs := s.opt.Mail.FilterState; fs != nil {
		var err error
		if p, err = loadPrefs(r.Context(), fs, c); err != nil {
			s.log.Warn("webmail: load preferences", "account", c.p.acct.Address.String(), "err", err)
		}
	}
	return uiOf(p, r)
}

// uiOf resolves stored preferences and the request into what is in force.
func uiOf(p Prefs, r *http.Request) uiPrefs {
	u := uiPrefs{P: p, Lang: p.Lang, Theme: p.Theme, Layout: p.Layout, Zone: "UTC"}
	if !validLang(u.Lang) {
		u.Lang = acceptLanguage(r)
	}
	if !slices.Contains(themes, u.Theme) {
		u.Theme = ""
	}
	if u.Layout != layoutPane {
		u.Layout = layoutList
	}
	if p.TimeZone != "" {
		if loc, err := time.LoadLocation(p.TimeZone); err == nil {
			u.loc, u.Zone = loc, p.TimeZone
		}
	}
	return u
}

// pageSizeFor is the account's page size, else the server's.
func (s *Server) pageSizeFor(c *mailCtx) int {
	if n := c.ui.P.PageSize; n >= minPageSize && n <= maxPageSize {
		return n
	}
	return s.pageSize()
}

// loadPrefs reads the stored preferences; none stored is the zero Prefs.
func loadPrefs(ctx context.Context, fs MailFilterState, c *mailCtx) (Prefs, error) {
	j, err := fs.Doc(ctx, c.ref, PrefsDoc)
	if errors.Is(err, filter.ErrNotFound) {
		return Prefs{}, nil
	}
	if err != nil {
		return Prefs{}, err
	}
	var p Prefs
	if err := json.Unmarshal(j, &p); err != nil {
		return Prefs{}, fmt.Errorf("preferences document: %w", err)
	}
	return p, nil
}

// savePrefs stores p.
func savePrefs(ctx context.Context, fs MailFilterState, c *mailCtx, p Prefs) error {
	j, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return fs.PutDoc(ctx, c.ref, PrefsDoc, j)
}

// normSender is the form of a sender address on the image list: the parsed address
// with the domain lower-cased (mail.Parse), else the lower-cased text.
func normSender(v string) string {
	v = strings.TrimSpace(v)
	if a, err := mail.Parse(v); err == nil {
		return strings.ToLower(a.String())
	}
	return strings.ToLower(v)
}

// applyDisplayForm validates the display form into p; bad input changes nothing. The
// reasons are in u's language.
func applyDisplayForm(p *Prefs, r *http.Request, u uiPrefs) error {
	f := r.PostFormValue
	n := Prefs{ImageSenders: p.ImageSenders}
	if v := strings.TrimSpace(f("page_size")); v != "" {
		size, err := strconv.Atoi(v)
		if err != nil || size < minPageSize || size > maxPageSize {
			return bad(u.T("Messages per page must be a number from %d to %d."), minPageSize, maxPageSize)
		}
		n.PageSize = size
	}
	tz := strings.TrimSpace(f("tz"))
	if tz != "" && tz != "UTC" {
		// time.LoadLocation also accepts "Local" and file paths: only IANA names here.
		if len(tz) > maxPrefsTZNameLen || tz == "Local" || strings.Contains(tz, "..") || strings.HasPrefix(tz, "/") {
			return bad(u.T("%q is not a time zone name (e.g. Europe/Berlin, Asia/Shanghai)."), tz)
		}
		if _, err := time.LoadLocation(tz); err != nil {
			return bad(u.T("%q is not a time zone name (e.g. Europe/Berlin, Asia/Shanghai)."), tz)
		}
		n.TimeZone = tz
	}
	if l := f("lang"); l != "" {
		if !validLang(l) {
			return bad("Choose English or 中文 (简体).")
		}
		n.Lang = l
	}
	if t := f("theme"); t != "" {
		if !slices.Contains(themes, t) {
			return bad("Choose a theme: light, dark or high contrast.")
		}
		n.Theme = t
	}
	switch l := f("layout"); l {
	case "", layoutList:
	case layoutPane:
		n.Layout = layoutPane
	default:
		return bad("Choose a layout: list only, or list and reading pane.")
	}
	*p = n
	return nil
}

// applySendersForm replaces the image sender list with the form's lines.
func applySendersForm(p *Prefs, text string, u uiPrefs) error {
	var list []string
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		a, err := mail.Parse(line)
		if err != nil {
			return bad(u.T("%q is not an e-mail address."), line)
		}
		list = append(list, strings.ToLower(a.String()))
	}
	slices.Sort(list)
	list = slices.Compact(list)
	if len(list) > maxImageSenders {
		return bad(u.T("At most %d senders."), maxImageSenders)
	}
	p.ImageSenders = list
	return nil
}

// applyUI loads the preferences into c for the handler. The list-and-pane layout shows
// messages in frames of this origin inside the list page (mail.js), so its pages allow
// frame-src 'self' (the frames keep their own CSP and sandbox, mail_read.go).
func (s *Server) applyUI(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	c.ui = s.loadUI(r, c)
	if c.ui.Layout == layoutPane && r.Method == http.MethodGet {
		w.Header().Set("Content-Security-Policy", csp+"; frame-src 'self'")
	}
}

// Box is a folder's label in the page's language: INBOX and the top-level special-use
// folders (RFC 6154) are named by their role; other folders keep their own names.
func (u uiPrefs) Box(f folderView) string {
	if f.Depth == 0 {
		if store.IsInbox(f.Name) {
			return u.T("INBOX")
		}
		if k, ok := specialLabels[f.SpecialUse]; ok && f.Label == k {
			return u.T(k)
		}
	}
	return f.Label
}

// specialLabels are the default English names of the special-use folders.
var specialLabels = map[string]string{store.Drafts: "Drafts", store.Sent: "Sent", store.Trash: "Trash",
	store.Junk: "Junk", store.Archive: "Archive"}
