package web

import (
	"net/http"
	"strconv"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
)

// Domains, accounts and aliases: thin handlers over admin.Scoped, which authorises.

// apiDomains lists the domains the caller administers (GET /api/v1/domains).
func (s *Server) apiDomains(w http.ResponseWriter, r *http.Request, p *principal) error {
	ds, err := s.scoped(r, p).Domains(r.Context())
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(ds, viewDomain))
	return nil
}

type newDomain struct {
	Name             string   `json:"name"`
	MaxMessageBytes  int64    `json:"max_message_bytes"`
	MaxQuotaBytes    int64    `json:"max_quota_bytes"`
	MaxUsers         int      `json:"max_users"`
	DisabledServices []string `json:"disabled_services"`
	// MaxAttachmentBytes is the domain's own attachment limit (0: its plan's).
	MaxAttachmentBytes int64 `json:"max_attachment_bytes"`
}

// apiCreateDomain adds a domain, enabled (POST /api/v1/domains).
func (s *Server) apiCreateDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req newDomain
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.scoped(r, p).CreateDomain(r.Context(), directory.Domain{Name: req.Name, MaxMessageBytes: req.MaxMessageBytes,
		MaxQuotaBytes: req.MaxQuotaBytes, MaxUsers: req.MaxUsers, DisabledServices: req.DisabledServices,
		MaxAttachmentBytes: req.MaxAttachmentBytes})
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, viewDomain(d))
	return nil
}

// apiDomain returns one domain (GET /api/v1/domains/{domain}).
func (s *Server) apiDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.scoped(r, p).Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewDomain(d))
	return nil
}

type domainPatch struct {
	Enabled          *bool     `json:"enabled"`
	MaxMessageBytes  *int64    `json:"max_message_bytes"`
	MaxQuotaBytes    *int64    `json:"max_quota_bytes"`
	MaxUsers         *int      `json:"max_users"`
	DisabledServices *[]string `json:"disabled_services"`
	// MaxAttachmentBytes: the domain's own attachment limit (0: its plan's).
	MaxAttachmentBytes *int64 `json:"max_attachment_bytes"`
}

// apiUpdateDomain changes a domain's switches and limits (PATCH /api/v1/domains/{domain}).
func (s *Server) apiUpdateDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req domainPatch
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := s.scoped(r, p).UpdateDomain(r.Context(), r.PathValue("domain"), admin.DomainUpdate(req))
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, viewDomain(d))
	return nil
}

// apiDeleteDomain removes a domain; ?force=true also removes its accounts, their mail
// and its aliases (DELETE /api/v1/domains/{domain}).
func (s *Server) apiDeleteDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	force, err := queryBool(r, "force")
	if err != nil {
		return err
	}
	if err := s.scoped(r, p).DeleteDomain(r.Context(), r.PathValue("domain"), force); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apiErr(http.StatusBadRequest, "invalid", "%s: want true or false", name)
	}
	return b, nil
}

// apiAudit searches the audit log within the caller's view (GET /api/v1/audit).
func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	es, err := s.scoped(r, p).Audit(r.Context(), q)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, listOf(es, viewAudit))
	return nil
}

func auditQuery(r *http.Request) (directory.AuditQuery, error) {
	v := r.URL.Query()
	q := directory.AuditQuery{Action: v.Get("action"), Target: v.Get("target"), Text: v.Get("q")}
	if d := v.Get("domain"); d != "" {
		q.Domains = []string{d}
	}
	ints := []struct {
		name string
		dst  *int64
	}{{"actor_id", &q.ActorID}, {"before", &q.BeforeID}}
	for _, f := range ints {
		if s := v.Get(f.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return q, apiErr(http.StatusBadRequest, "invalid", "%s: want a non-negative integer", f.name)
			}
			*f.dst = n
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return q, apiErr(http.StatusBadRequest, "invalid", "limit: 1 to 1000")
		}
		q.Limit = n
	}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return q, apiErr(http.StatusBadRequest, "invalid", "since: want an RFC 3339 time")
		}
		q.Since = t
	}
	return q, nil
}
