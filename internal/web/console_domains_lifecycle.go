package web

import (
	"net/http"
	"net/url"
	"strings"

	"mailgrid/internal/mail"
)

// Console pages of the domain lifecycle (admin.Scoped, internal/admin/domains_lifecycle.go):
// the home page lists deleted domains apart, with Restore (console.html); a domain's
// "Administrators and alias domains" page transfers it and manages its alias domains
// (domainlife.html). A domain admin sees that page's alias domains only.

// domainLifeData is what domainlife.html shows.
type domainLifeData struct {
	Admins  []domainAdminView
	Aliases []domainAliasView
}

func (s *Server) consoleDomainLifecycleRoutes(mux *http.ServeMux) {
	const dom = "/console/domains/{domain}"
	mux.HandleFunc("POST "+dom+"/restore", s.consolePOST("console", "Console", s.fillHome, s.actRestoreDomain))
	mux.HandleFunc("GET "+dom+"/admins", s.consoleGET("domainlife", "Administrators and alias domains", s.fillDomainLife))
	mux.HandleFunc("POST "+dom+"/admins/{op}", s.consolePOST("domainlife", "Administrators and alias domains", s.fillDomainLife, s.actDomainLife))
}

func (s *Server) actRestoreDomain(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	dm, err := s.scoped(r, p).RestoreDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return "", err
	}
	return "/console/domains/" + url.PathEscape(dm.Name) + "?done=domain-restored", nil
}

func (s *Server) fillDomainLife(r *http.Request, p *principal, d *pageData) error {
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	v := viewDomain(dm)
	d.Domain, d.Title, d.Nav = &v, "Administrators and alias domains of "+v.NameUnicode, "home"
	d.CanEdit = sc.Actor().CheckChangeDomains() == nil
	life := &domainLifeData{}
	if d.CanEdit {
		as, err := sc.DomainAdmins(r.Context(), dm.Name)
		if err != nil {
			return err
		}
		life.Admins = listOf(as, viewDomainAdmin).Items
	}
	als, err := sc.DomainAliases(r.Context(), dm.Name)
	if err != nil {
		return err
	}
	life.Aliases = listOf(als, viewDomainAlias).Items
	d.Life = life
	return nil
}

func (s *Server) actDomainLife(_ http.ResponseWriter, r *http.Request, p *principal, _ *pageData) (string, error) {
	sc := s.scoped(r, p)
	ctx := r.Context()
	name := r.PathValue("domain")
	page := "/console/domains/" + url.PathEscape(name) + "/admins"
	switch r.PathValue("op") {
	case "set":
		if _, err := sc.SetDomainAdmins(ctx, name, splitList(r.PostFormValue("admins"))); err != nil {
			return "", err
		}
		return page + "?done=admins-saved", nil
	case "alias-add":
		if _, err := sc.CreateDomainAlias(ctx, name, strings.TrimSpace(r.PostFormValue("name"))); err != nil {
			return "", err
		}
		return page + "?done=alias-domain-added", nil
	case "alias-delete":
		alias := r.PostFormValue("name")
		if err := confirmed(r, alias, mail.DomainUnicode(alias)); err != nil {
			return "", err
		}
		if err := sc.DeleteDomainAlias(ctx, name, alias); err != nil {
			return "", err
		}
		return page + "?done=alias-domain-deleted", nil
	}
	return "", errNotFound()
}
