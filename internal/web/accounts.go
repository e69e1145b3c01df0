package web

import (
	"net/http"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// apiAccounts lists a domain's accounts (GET /api/v1/domains/{domain}/accounts).
func (s *Server) apiAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	as, err := s.scoped(r, p).Accounts(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(as, viewAccount))
	return nil
}

type newAccount struct {
	Address          string   `json:"address"`
	Password         string   `json:"password"`
	QuotaBytes       int64    `json:"quota_bytes"`
	QuotaMessages    int64    `json:"quota_messages"`
	Role             string   `json:"role"`
	AdminDomains     []string `json:"admin_domains"`
	DisabledServices []string `json:"disabled_services"`
}

// apiCreateAccount adds an account to the domain of the path
// (POST /api/v1/domains/{domain}/accounts).
func (s *Server) apiCreateAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	var req newAccount
	if err := decode(w, r, &req); err != nil {
		return err
	}
	addr, err := mail.Parse(req.Address)
	if err != nil {
		return apiErr(http.StatusBadRequest, "invalid", "address: %v", err)
	}
	dom, err := mail.ParseDomain(r.PathValue("domain"))
	if err != nil {
		return errNotFound()
	}
	if err := sc.Actor().CheckDomain(dom); err != nil {
		return err
	}
	if addr.Domain != dom {
		return apiErr(http.StatusBadRequest, "invalid", "address %s is not in %s", addr, dom)
	}
	a, err := sc.CreateAccount(r.Context(), directory.NewAccount{Address: addr, Password: req.Password,
		QuotaBytes: req.QuotaBytes, QuotaMessages: req.QuotaMessages, Role: directory.Role(req.Role),
		AdminDomains: req.AdminDomains, DisabledServices: req.DisabledServices})
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, viewAccount(a))
	return nil
}

// apiAccount returns one account with its usage
// (GET /api/v1/domains/{domain}/accounts/{id}).
func (s *Server) apiAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.scoped(r, p).Account(r.Context(), r.PathValue("domain"), id)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewAccountInfo(a))
	return nil
}

// accountPatch is the body of an account update. Which fields a caller may send depends
// on who it is and whose account it is (admin.Actor.CheckAccountUpdate): a user on its own
// account only password and current_password; anything else is refused whole.
type accountPatch struct {
	Password         *string         `json:"password"`
	CurrentPassword  string          `json:"current_password"`
	QuotaBytes       *int64          `json:"quota_bytes"`
	QuotaMessages    *int64          `json:"quota_messages"`
	Enabled          *bool           `json:"enabled"`
	Role             *directory.Role `json:"role"`
	AdminDomains     *[]string       `json:"admin_domains"`
	DisabledServices *[]string       `json:"disabled_services"`
}

// apiUpdateAccount changes an account: reset password, quota, enable/disable, role,
// service switches (PATCH /api/v1/domains/{domain}/accounts/{id}). A caller who changes
// its own password gets a new session (all others have ended).
func (s *Server) apiUpdateAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req accountPatch
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u := directory.AccountUpdate{Password: req.Password, QuotaBytes: req.QuotaBytes, QuotaMessages: req.QuotaMessages,
		Enabled: req.Enabled, Role: req.Role, AdminDomains: req.AdminDomains, DisabledServices: req.DisabledServices}
	a, err := s.scoped(r, p).UpdateAccount(r.Context(), r.PathValue("domain"), id, u, req.CurrentPassword)
	if err != nil {
		return err
	}
	if a.ID == p.acct.ID && req.Password != nil && p.sess != nil {
		if _, err := s.startSession(r.Context(), w, r, a); err != nil {
			return err
		}
	}
	s.writeJSON(w, http.StatusOK, viewAccount(a))
	return nil
}

// apiDeleteAccount removes an account and its mail
// (DELETE /api/v1/domains/{domain}/accounts/{id}).
func (s *Server) apiDeleteAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.scoped(r, p).DeleteAccount(r.Context(), r.PathValue("domain"), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// apiAliases lists a domain's aliases (GET /api/v1/domains/{domain}/aliases).
func (s *Server) apiAliases(w http.ResponseWriter, r *http.Request, p *principal) error {
	as, err := s.scoped(r, p).Aliases(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(as, viewAlias))
	return nil
}

type newAlias struct {
	Source  string   `json:"source"`
	Targets []string `json:"targets"`
}

// apiCreateAlias adds an alias ("local@domain" or "@domain" for the catch-all)
// (POST /api/v1/domains/{domain}/aliases).
func (s *Server) apiCreateAlias(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req newAlias
	if err := decode(w, r, &req); err != nil {
		return err
	}
	al, err := s.scoped(r, p).CreateAlias(r.Context(), r.PathValue("domain"), req.Source, req.Targets)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, viewAlias(al))
	return nil
}

// apiDeleteAlias removes an alias (DELETE /api/v1/domains/{domain}/aliases/{source}).
func (s *Server) apiDeleteAlias(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.scoped(r, p).DeleteAlias(r.Context(), r.PathValue("domain"), r.PathValue("source")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
