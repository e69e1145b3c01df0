package web

import (
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
)

// The console: server-rendered pages (html/template escapes by context) that work as
// plain forms, enhanced by htmx where it is loaded. Every page and form goes through the
// same admin.Scoped calls as the API; form posts carry the session's CSRF token.
//
// Shape of every page (consoleGET) and form (consolePOST):
//   - no session: a page redirects to /login?next=..., a form post too (its data is lost,
//     as after any expired session);
//   - a form post checks the CSRF token, runs its action, and on success redirects
//     (303, POST/redirect/GET) with a fixed flash key (?done=...), never a reflected text;
//     on failure it renders the page it came from again with the message and the
//     status of the error (403, 404, 409, 422...), so a refused change is visible
//     without JavaScript and nothing was changed;
//   - htmx (hx-boost on the body) turns links and forms into requests that swap the page
//     body; the layout's htmx-config swaps error answers too (responseHandling) so an
//     error message is shown, and a re-rendered page answers HX-Push-Url: false so the
//     address bar keeps the page's URL;
//   - destructive actions need the object's name typed into a confirm field (checked on
//     the server) and carry hx-confirm for a second question in the browser.

//go:embed assets/*.html assets/*.css
var assetFS embed.FS

// htmxFile is htmx's path under Options.AssetsDir (npm's layout of htmx.org 2.x).
const htmxFile = "htmx.org/dist/htmx.min.js"

// consolePages are the page templates; each is parsed with the layout and the partials.
var consolePages = []string{"login", "console", "domain", "accounts", "account", "audit", "me", "error", "plans", "filters", "dns", "filterservers", "domainlife", "nodes"}

type pages struct {
	byName map[string]*template.Template
	css    []byte
}

var templateFuncs = template.FuncMap{
	"size":   humanSize,
	"sizeIn": sizeInput,
	"has": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
	"join": strings.Join,
	"svcs": func(all, disabled []string) map[string][]string {
		return map[string][]string{"All": all, "Disabled": disabled}
	},
	"deref": func(p *int64) int64 { return *p },
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"tsp": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}

func loadPages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range consolePages {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(assetFS,
			"assets/layout.html", "assets/partials.html", "assets/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		p.byName[name] = t
	}
	css, err := fs.ReadFile(assetFS, "assets/console.css")
	if err != nil {
		return nil, err
	}
	p.css = css
	return p, nil
}

// pageData is what every console template gets; a page fills the fields it shows.
type pageData struct {
	Title       string
	CSRF        string
	Me          *accountView
	Error       string
	Flash       string
	Next, Login string
	Admin       bool
	SystemAdmin bool
	Nav         string // the menu entry of this page

	Domains  []domainView
	Domain   *domainView
	Accounts []accountView
	Account  *accountView
	Aliases  []aliasView
	Audit    []auditView
	Sessions []sessionView
	Tokens   []tokenView
	NewToken *tokenView
	TOTP     totpPage
	Query    url.Values
	Plan     *planView
	// PlanNames are the plans a system admin may assign.
	PlanNames []string
	// Policy is the plans, filter policy, quarantine and DNS pages' data (console_policy.go).
	Policy *policyData
	// Life is the domain's administrators and alias domains (console_domains_lifecycle.go).
	Life *domainLifeData
	// Nodes is the nodes and shards page's data (console_nodes.go).
	Nodes *nodesPage

	// Choices for the forms.
	Services []string
	Roles    []string
	Scopes   []string
	CanEdit  bool // the caller may change the object of the page
}

type totpPage struct {
	Enabled bool
	Pending *totpEnrolment
}

func (s *Server) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginForm)
	mux.HandleFunc("POST /logout", s.logoutForm)
	mux.HandleFunc("GET /static/console.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		if _, err := w.Write(s.pages.css); err != nil {
			s.log.Debug("web: write css", "err", err)
		}
	})
	mux.HandleFunc("GET /static/htmx.min.js", s.serveHTMX)
	s.consoleAdminRoutes(mux)
	s.consoleMeRoutes(mux)
	s.consolePolicyRoutes(mux)
	s.consoleDomainLifecycleRoutes(mux)
	s.consoleNodeRoutes(mux)
	s.consoleSMSRoutes(mux) // console_sms.go: a domain's SMS statistics
}

// serveHTMX serves htmx from the npm install directory.
func (s *Server) serveHTMX(w http.ResponseWriter, r *http.Request) {
	if s.opt.AssetsDir == "" {
		http.NotFound(w, r)
		return
	}
	path := filepath.Join(s.opt.AssetsDir, filepath.FromSlash(htmxFile))
	if _, err := os.Stat(path); err != nil {
		s.log.Warn("web: htmx not installed (run npm ci in web/)", "path", path, "err", err)
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	http.ServeFile(w, r, path)
}

// render writes page name (a template of consolePages) with the layout.
func (s *Server) render(w http.ResponseWriter, name string, status int, d pageData) {
	t := s.pages.byName[name]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", d); err != nil {
		s.log.Error("web: render", "template", name, "err", err)
	}
}

// pageSession is the signed-in browser session of a console request, or nil.
func (s *Server) pageSession(r *http.Request) *principal {
	if s.sessionSecret(r) == "" {
		return nil
	}
	p, err := s.session(r.Context(), s.sessionSecret(r))
	if err != nil {
		return nil
	}
	return p
}

// fillFunc fills the page data of a console page for caller p.
type fillFunc func(r *http.Request, p *principal, d *pageData) error

// actionFunc performs a console form's change. It returns where to redirect on success,
// or "" to render the page with what it put in d (a secret shown once).
type actionFunc func(w http.ResponseWriter, r *http.Request, p *principal, d *pageData) (string, error)

// baseData is the page data every page of p starts from.
func (s *Server) baseData(p *principal, title string) pageData {
	me := viewAccount(p.acct)
	return pageData{Title: title, CSRF: p.csrf(), Me: &me,
		Admin:       p.acct.Role != directory.RoleUser,
		SystemAdmin: p.acct.Role == directory.RoleSystemAdmin,
		Services:    directory.Services(), Scopes: Scopes(),
		Roles: []string{string(directory.RoleUser), string(directory.RoleDomainAdmin), string(directory.RoleSystemAdmin)}}
}

// flashes are the success messages a redirect may name (?done=KEY): fixed texts, so a
// link cannot make the console say anything else.
var flashes = map[string]string{
	"domain-created": "Domain created.", "domain-updated": "Domain updated.",
	"domain-deleted":  "Domain deleted. It refuses mail and logins, and can be restored under Deleted domains until its purge.",
	"domain-restored": "Domain restored.", "admins-saved": "Administrators saved.",
	"alias-domain-added": "Alias domain added.", "alias-domain-deleted": "Alias domain removed.",
	"account-created": "Account created.", "account-updated": "Account updated.", "account-deleted": "Account deleted.",
	"alias-created": "Alias created.", "alias-deleted": "Alias deleted.",
	"password-changed": "Password changed. Your other sessions have ended.",
	"token-deleted":    "Token revoked.", "session-revoked": "Session revoked.",
	"totp-enabled": "Two-factor authentication is on.", "totp-disabled": "Two-factor authentication is off.",
	"plan-created": "Plan created.", "plan-updated": "Plan updated.", "plan-deleted": "Plan deleted.",
	"block-added": "Block list entry added.", "block-removed": "Block list entry removed.",
	"rule-added": "Rule added.", "rule-updated": "Rule saved.", "rule-deleted": "Rule deleted.", "switches-saved": "Filters saved.",
	"held-released": "Message released and delivered.", "held-deleted": "Held message deleted.",
	"migration-started": "Migration started on this node.", "migration-cancelled": "Migration cancelled.",
}

// consoleGET serves a page: the signed-in caller's data filled by fill, or the login
// page for a browser without a session.
func (s *Server) consoleGET(name, title string, fill fillFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.pageSession(r)
		if p == nil {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		d := s.baseData(p, title)
		d.Flash = flashes[r.URL.Query().Get("done")]
		if err := fill(r, p, &d); err != nil {
			s.renderError(w, r, d, err)
			return
		}
		s.render(w, name, http.StatusOK, d)
	}
}

// consolePOST serves a form of page name (see the file comment).
func (s *Server) consolePOST(name, title string, fill fillFunc, act actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.pageSession(r)
		if p == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		d := s.baseData(p, title)
		if err := s.parseConsoleForm(w, r, p); err != nil {
			s.renderError(w, r, d, err)
			return
		}
		to, err := act(w, r, p, &d)
		if err == nil && to != "" {
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		status := http.StatusOK
		if err != nil {
			ae := s.consoleError(r, err)
			d.Error, status = ae.Message, ae.Status
		}
		if ferr := fill(r, p, &d); ferr != nil {
			s.renderError(w, r, d, errors.Join(err, ferr))
			return
		}
		w.Header().Set("HX-Push-Url", "false")
		s.render(w, name, status, d)
	}
}

// parseConsoleForm reads a form post, URL-encoded or (file uploads) multipart, and
// checks its CSRF token: the X-CSRF-Token header (htmx) or the csrf_token field.
func (s *Server) parseConsoleForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return apiErr(http.StatusBadRequest, "invalid", "unreadable form")
		}
		return checkCSRF(r, p)
	}
	r.Body = http.MaxBytesReader(w, r.Body, admin.MaxImportBytes+maxBody)
	if err := r.ParseMultipartForm(maxBody); err != nil {
		return apiErr(http.StatusBadRequest, "invalid", "unreadable form (at most %d bytes)", admin.MaxImportBytes)
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(p.csrf())) != 1 {
		return apiErr(http.StatusForbidden, "csrf", "missing or wrong CSRF token")
	}
	return nil
}

// consoleError maps err to its API form, logging what the page does not show.
func (s *Server) consoleError(r *http.Request, err error) *apiError {
	ae, known := toAPIError(err)
	if !known {
		s.log.Error("web: console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	return ae
}

// renderError shows an error page with the error's status.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, d pageData, err error) {
	ae := s.consoleError(r, err)
	d.Error, d.Title = ae.Message, http.StatusText(ae.Status)
	w.Header().Set("HX-Push-Url", "false")
	s.render(w, "error", ae.Status, d)
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if s.pageSession(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, "login", http.StatusOK, pageData{Title: "Sign in", Next: next})
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next, login := safeNext(r.PostFormValue("next")), r.PostFormValue("login")
	a, err := s.signIn(r.Context(), r, login, r.PostFormValue("password"), r.PostFormValue("totp"))
	if err == nil {
		_, err = s.startSession(r.Context(), w, r, a)
	}
	if err != nil {
		ae := s.consoleError(r, err)
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		}
		s.render(w, "login", ae.Status, pageData{Title: "Sign in", Next: next, Login: login, Error: ae.Message})
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logoutForm(w http.ResponseWriter, r *http.Request) {
	if p := s.pageSession(r); p != nil {
		if err := checkCSRF(r, p); err != nil {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		if err := s.auth.DeleteSession(r.Context(), p.acct.ID, p.sess.ID); err != nil && !errors.Is(err, directory.ErrNotFound) {
			s.log.Error("web: logout", "err", err)
		}
	}
	s.setCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// humanSize shows a byte count the way the forms accept it (0: unlimited).
func humanSize(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return sizeInput(n)
}

// sizeInput is n in the largest unit that divides it exactly ("1G", "500M", "1234").
func sizeInput(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseSize reads a size field: a number of bytes with an optional K, M, G or T suffix
// (binary multiples); "" and "0" are 0 (unlimited).
func parseSize(field, v string) (int64, error) {
	v = strings.TrimSpace(strings.ToUpper(v))
	v = strings.TrimSuffix(v, "B")
	if v == "" {
		return 0, nil
	}
	mult := int64(1)
	switch v[len(v)-1] {
	case 'K':
		mult = 1 << 10
	case 'M':
		mult = 1 << 20
	case 'G':
		mult = 1 << 30
	case 'T':
		mult = 1 << 40
	}
	if mult > 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, apiErr(http.StatusBadRequest, "invalid", "%s: want a size such as 500M or 2G (0: unlimited)", field)
	}
	return n * mult, nil
}

// parseCount reads a non-negative integer field ("" is 0).
func parseCount(field, v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, apiErr(http.StatusBadRequest, "invalid", "%s: want a whole number (0: unlimited)", field)
	}
	return n, nil
}
