package web

import (
	"net/http"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// The domain lifecycle API (admin.Scoped, internal/admin/domains_lifecycle.go): restore a
// deleted domain (DELETE /api/v1/domains/{domain} deletes it with the grace period),
// transfer a domain to domain admins, and alias domains. Only system admins change any of
// it; a domain admin lists the alias domains of its own domains.

func (s *Server) domainLifecycleRoutes() []route {
	r := func(method, path, auth, scope string, h handlerFunc) route {
		return route{Route{method, path, auth, scope}, h}
	}
	const d = "/api/v1/domains/{domain}"
	return []route{
		r("POST", d+"/restore", AuthAny, ScopeAdminWrite, s.apiRestoreDomain),
		r("GET", d+"/admins", AuthAny, ScopeAdminRead, s.apiDomainAdmins),
		r("PUT", d+"/admins", AuthAny, ScopeAdminWrite, s.apiSetDomainAdmins),
		r("GET", d+"/alias-domains", AuthAny, ScopeAdminRead, s.apiDomainAliases),
		r("POST", d+"/alias-domains", AuthAny, ScopeAdminWrite, s.apiCreateDomainAlias),
		r("DELETE", d+"/alias-domains", AuthAny, ScopeAdminWrite, s.apiDeleteDomainAlias),
	}
}

// apiRestoreDomain brings a deleted domain back as it was; a domain that is not deleted
// is answered as it is (POST /api/v1/domains/{domain}/restore).
func (s *Server) apiRestoreDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.scoped(r, p).RestoreDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewDomain(d))
	return nil
}

type domainAdminView struct {
	Address      string   `json:"address"`
	ID           int64    `json:"id"`
	Domain       string   `json:"domain"`
	AdminDomains []string `json:"admin_domains"`
}

func viewDomainAdmin(a directory.Account) domainAdminView {
	return domainAdminView{Address: a.Address.String(), ID: a.ID, Domain: a.Address.Domain, AdminDomains: nonNilStrings(a.AdminDomains)}
}

// apiDomainAdmins lists the domain admins of a domain (GET /api/v1/domains/{domain}/admins).
func (s *Server) apiDomainAdmins(w http.ResponseWriter, r *http.Request, p *principal) error {
	as, err := s.scoped(r, p).DomainAdmins(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(as, viewDomainAdmin))
	return nil
}

type domainAdminsPut struct {
	Admins []string `json:"admins"`
}

// apiSetDomainAdmins transfers a domain: exactly the given accounts administer it from
// now on (PUT /api/v1/domains/{domain}/admins).
func (s *Server) apiSetDomainAdmins(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req domainAdminsPut
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Admins == nil {
		return apiErr(http.StatusBadRequest, "invalid", "admins: a list of addresses is required ([] for none)")
	}
	as, err := s.scoped(r, p).SetDomainAdmins(r.Context(), r.PathValue("domain"), req.Admins)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(as, viewDomainAdmin))
	return nil
}

type domainAliasView struct {
	Name        string    `json:"name"`
	NameUnicode string    `json:"name_unicode"`
	Target      string    `json:"target"`
	CreatedAt   time.Time `json:"created_at"`
}

func viewDomainAlias(a directory.DomainAlias) domainAliasView {
	return domainAliasView{Name: a.Name, NameUnicode: mail.DomainUnicode(a.Name), Target: a.Target, CreatedAt: a.CreatedAt}
}

// apiDomainAliases lists a domain's alias domains (GET /api/v1/domains/{domain}/alias-domains).
func (s *Server) apiDomainAliases(w http.ResponseWriter, r *http.Request, p *principal) error {
	as, err := s.scoped(r, p).DomainAliases(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(as, viewDomainAlias))
	return nil
}

type newDomainAlias struct {
	Name string `json:"name"`
}

// apiCreateDomainAlias makes name an alias domain of the domain
// (POST /api/v1/domains/{domain}/alias-domains).
func (s *Server) apiCreateDomainAlias(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req newDomainAlias
	if err := decode(w, r, &req); err != nil {
		return err
	}
	a, err := s.scoped(r, p).CreateDomainAlias(r.Context(), r.PathValue("domain"), req.Name)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, viewDomainAlias(a))
	return nil
}

// apiDeleteDomainAlias removes the alias domain ?name= of the domain
// (DELETE /api/v1/domains/{domain}/alias-domains?name=).
func (s *Server) apiDeleteDomainAlias(w http.ResponseWriter, r *http.Request, p *principal) error {
	name := r.URL.Query().Get("name")
	if name == "" {
		return apiErr(http.StatusBadRequest, "invalid", "name: the alias domain is required")
	}
	if err := s.scoped(r, p).DeleteDomainAlias(r.Context(), r.PathValue("domain"), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
