package web

import (
	"errors"
	"html/template"
	"net/http"
	netmail "net/mail"
	"strings"
)

// The Preferences page (/mail/prefs) and its form posts; the model is in mail_prefs.go.

// mailParseDate parses an RFC 5322 3.3 date-time (obsolete forms too).
var mailParseDate = netmail.ParseDate

// commonZones are offered in the time zone field's list; any IANA name is accepted.
var commonZones = []string{"UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Moscow",
	"Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai",
	"Asia/Hong_Kong", "Asia/Taipei", "Asia/Tokyo", "Asia/Seoul", "Australia/Sydney",
	"Pacific/Auckland", "America/Sao_Paulo", "America/New_York", "America/Chicago",
	"America/Denver", "America/Los_Angeles", "Pacific/Honolulu"}

// prefsView is what mail_prefs.html shows.
type prefsView struct {
	PageSize    int
	DefaultSize int
	Zones       []string
	Senders     string
	Lang        string // the stored choice; "" Accept-Language
}

type prefsPage struct {
	mailPage
	Prefs prefsView
}

// prefsSaved maps the "saved" parameter to its notice key.
var prefsSaved = map[string]string{"display": "Display preferences saved.", "senders": "Image senders saved."}

// mailPrefsPages mounts the page (and the rich-text editor's script); its template is parsed once, on a clone of the
// webmail's templates ("top" and "bottom").
func (s *Server) mailPrefsPages(a *mailAssets, page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	t, err := a.t.Clone()
	if err == nil {
		_, err = t.ParseFS(assetFS, "assets/mail_prefs.html")
	}
	if err != nil {
		s.log.Error("webmail: preferences template", "err", err)
		return
	}
	page("GET /mail/prefs", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.mailPrefs(w, r, c, t, "", http.StatusOK)
	})
	page("POST /mail/prefs", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.mailPrefsPost(w, r, c, t) })
	s.mailRichTextPages(page)
}

func (s *Server) mailPrefs(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, errMsg string, status int) {
	if s.opt.Mail.FilterState == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("Preferences are not available on this server right now; try again later."))
		return
	}
	p := c.ui.P
	d := prefsPage{mailPage: s.pageOf(r.Context(), c, c.ui.T("Preferences"), 0), Prefs: prefsView{
		PageSize: p.PageSize, DefaultSize: s.pageSize(), Zones: commonZones, Lang: p.Lang,
		Senders: strings.Join(p.ImageSenders, "\n")}}
	d.Back, d.Error = "/mail/prefs", errMsg
	if k, ok := prefsSaved[r.URL.Query().Get("saved")]; ok {
		d.Flash = c.ui.T(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "prefs", d); err != nil {
		s.log.Error("webmail: render", "template", "prefs", "err", err)
	}
}

// mailPrefsPost applies one form: "display", "senders" (the whole list), or
// "allow-sender" (one address, from the message view, which it returns to). Bad input
// answers 422 with the reason and changes nothing; a store fault is 503.
func (s *Server) mailPrefsPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	fs := s.opt.Mail.FilterState
	if fs == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("Preferences are not available on this server right now; try again later."))
		return
	}
	ctx := r.Context()
	// Read the stored value again: c.ui may hold defaults after a load fault, which
	// must not overwrite what is stored.
	p, err := loadPrefs(ctx, fs, c)
	if err == nil {
		switch op := r.PostFormValue("op"); op {
		case "display":
			err = applyDisplayForm(&p, r, c.ui)
		case "senders":
			err = applySendersForm(&p, r.PostFormValue("senders"), c.ui)
		case "allow-sender":
			err = applySendersForm(&p, strings.Join(append(p.ImageSenders, r.PostFormValue("sender")), "\n"), c.ui)
		default:
			err = bad("Unknown form.")
		}
	}
	if err == nil {
		err = savePrefs(ctx, fs, c, p)
	}
	var bi *badInput
	switch {
	case errors.As(err, &bi):
		s.mailPrefs(w, r, c, t, bi.msg, http.StatusUnprocessableEntity)
		return
	case err != nil:
		s.log.Error("webmail: save preferences", "account", c.p.acct.Address.String(), "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("The preferences could not be saved right now; nothing was changed. Try again in a moment."))
		return
	}
	switch op := r.PostFormValue("op"); op {
	case "allow-sender":
		http.Redirect(w, r, backTo(r.PostFormValue("back"), "/mail/"), http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/mail/prefs?saved="+op, http.StatusSeeOther)
	}
}
