package web

import (
	"errors"
	"html/template"
	"net/http"

	"mailgrid/internal/directory"
)

// The console's single sign-on page of a domain (/console/domains/{domain}/sso): the
// domain's SSO secret, shown to its administrators (system admins and the domain's
// admins, admin.Scoped), with buttons to generate or rotate it and to remove it. The
// link format is in docs/webmail.md and sso.go.

// ssoConsoleData is the page's data: the console's, plus the domain and its secret.
type ssoConsoleData struct {
	pageData
	SSODomain string
	Secret    string // "": none, single sign-on is off
}

var ssoFlashes = map[string]string{"rotated": "A new secret is in force; links signed with the old one no longer work.",
	"removed": "The secret is removed: single sign-on links for this domain are refused."}

// ssoConsole mounts the page.
func (s *Server) ssoConsole(mux *http.ServeMux) {
	t, err := template.New("sso").Funcs(templateFuncs).ParseFS(assetFS,
		"assets/layout.html", "assets/partials.html", "assets/sso.html")
	if err != nil {
		s.log.Error("web: sso console template", "err", err)
		return
	}
	mux.HandleFunc("GET /console/domains/{domain}/sso", func(w http.ResponseWriter, r *http.Request) {
		p := s.pageSession(r)
		if p == nil {
			http.Redirect(w, r, "/login?next="+r.URL.EscapedPath(), http.StatusSeeOther)
			return
		}
		d := ssoConsoleData{pageData: s.baseData(p, "Single sign-on")}
		d.Flash = ssoFlashes[r.URL.Query().Get("done")]
		s.ssoConsoleShow(w, r, p, t, d, http.StatusOK)
	})
	mux.HandleFunc("POST /console/domains/{domain}/sso", func(w http.ResponseWriter, r *http.Request) {
		p := s.pageSession(r)
		if p == nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		d := ssoConsoleData{pageData: s.baseData(p, "Single sign-on")}
		if err := s.parseConsoleForm(w, r, p); err != nil {
			s.renderError(w, r, d.pageData, err)
			return
		}
		sc, dom := s.scoped(r, p), r.PathValue("domain")
		var err error
		done := "rotated"
		switch r.PostFormValue("op") {
		case "rotate":
			_, err = sc.SSOSecret(r.Context(), dom, true)
		case "remove":
			err, done = sc.SetSSOSecret(r.Context(), dom, ""), "removed"
		default:
			err = apiErr(http.StatusBadRequest, "invalid", "unknown operation")
		}
		if err != nil {
			ae := s.consoleError(r, err)
			d.Error = ae.Message
			s.ssoConsoleShow(w, r, p, t, d, ae.Status)
			return
		}
		http.Redirect(w, r, "/console/domains/"+dom+"/sso?done="+done, http.StatusSeeOther)
	})
}

// ssoConsoleShow renders the page for the domain in the path.
func (s *Server) ssoConsoleShow(w http.ResponseWriter, r *http.Request, p *principal, t *template.Template, d ssoConsoleData, status int) {
	dm, err := s.scoped(r, p).Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		s.renderError(w, r, d.pageData, err)
		return
	}
	d.SSODomain, d.Nav = dm.Name, "home"
	if ss, ok := s.dir.(directory.SSOSecretStore); ok {
		d.Secret, err = ss.SSOSecret(r.Context(), dm.Name)
		if err != nil && !errors.Is(err, directory.ErrNotFound) {
			s.renderError(w, r, d.pageData, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("HX-Push-Url", "false")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", d); err != nil {
		s.log.Error("web: render", "template", "sso", "err", err)
	}
}
