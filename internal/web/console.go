package web

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"mailgrid/internal/directory"
)

// The console: server-rendered pages (html/template escapes by context) that work as
// plain forms, enhanced by htmx where it is loaded. Every page and form goes through the
// same admin.Scoped calls as the API; form posts carry the session's CSRF token.

//go:embed assets/*.html assets/*.css
var assetFS embed.FS

// htmxFile is htmx's path under Options.AssetsDir (npm's layout of htmx.org 2.x).
const htmxFile = "htmx.org/dist/htmx.min.js"

type pages struct {
	login, console *template.Template
	css            []byte
}

func loadPages() (*pages, error) {
	login, err := template.ParseFS(assetFS, "assets/layout.html", "assets/login.html")
	if err != nil {
		return nil, err
	}
	console, err := template.ParseFS(assetFS, "assets/layout.html", "assets/console.html", "assets/domains.html")
	if err != nil {
		return nil, err
	}
	css, err := fs.ReadFile(assetFS, "assets/console.css")
	if err != nil {
		return nil, err
	}
	return &pages{login: login, console: console, css: css}, nil
}

type pageData struct {
	Title       string
	CSRF        string
	Me          *accountView
	Error       string
	Next, Login string
	Admin       bool
	SystemAdmin bool
	Domains     []domainView
}

func (s *Server) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.loginForm)
	mux.HandleFunc("POST /logout", s.logoutForm)
	mux.HandleFunc("GET /console/{$}", s.consolePage)
	mux.HandleFunc("POST /console/domains", s.consoleAddDomain)
	mux.HandleFunc("GET /static/console.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		if _, err := w.Write(s.pages.css); err != nil {
			s.log.Debug("web: write css", "err", err)
		}
	})
	mux.HandleFunc("GET /static/htmx.min.js", s.serveHTMX)
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

func (s *Server) render(w http.ResponseWriter, t *template.Template, name string, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, name, d); err != nil {
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

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if s.pageSession(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, s.pages.login, "layout", http.StatusOK, pageData{Title: "Sign in", Next: next})
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
		ae, _ := toAPIError(err)
		if ae.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
		}
		s.render(w, s.pages.login, "layout", ae.Status, pageData{Title: "Sign in", Next: next, Login: login, Error: ae.Message})
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

// consoleData fills the page of p; err is shown on it.
func (s *Server) consoleData(r *http.Request, p *principal) (pageData, error) {
	me := viewAccount(p.acct)
	d := pageData{Title: "Console", CSRF: p.csrf(), Me: &me,
		Admin:       p.acct.Role != directory.RoleUser,
		SystemAdmin: p.acct.Role == directory.RoleSystemAdmin}
	if !d.Admin {
		return d, nil
	}
	ds, err := s.scoped(r, p).Domains(r.Context())
	if err != nil {
		return d, err
	}
	d.Domains = listOf(ds, viewDomain).Items
	return d, nil
}

func (s *Server) consolePage(w http.ResponseWriter, r *http.Request) {
	p := s.pageSession(r)
	if p == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	d, err := s.consoleData(r, p)
	if err != nil {
		ae, _ := toAPIError(err)
		d.Error = ae.Message
	}
	s.render(w, s.pages.console, "layout", http.StatusOK, d)
}

// consoleAddDomain creates a domain from the console form. With htmx (HX-Request) it
// answers the refreshed domain table; without, it redirects back to the console.
func (s *Server) consoleAddDomain(w http.ResponseWriter, r *http.Request) {
	p := s.pageSession(r)
	if p == nil {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := checkCSRF(r, p); err != nil {
		http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	_, cerr := s.scoped(r, p).CreateDomain(r.Context(), directory.Domain{Name: r.PostFormValue("name")})
	d, err := s.consoleData(r, p)
	status := http.StatusOK
	if err = errors.Join(cerr, err); err != nil {
		ae, _ := toAPIError(err)
		d.Error, status = ae.Message, ae.Status
	}
	if r.Header.Get("HX-Request") == "true" {
		// htmx swaps only 2xx answers: the error travels in the fragment.
		s.render(w, s.pages.console, "domains", http.StatusOK, d)
		return
	}
	if status != http.StatusOK {
		s.render(w, s.pages.console, "layout", status, d)
		return
	}
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}
