package web

import (
	"net/http"

	"mailgrid/internal/directory"
)

// Service plans API (system admins; admin.Scoped checks): list, read with the domains
// on a plan, create, replace (its domains brought within it), delete (refused while a
// domain uses it), and assign a plan to a domain.

type planReq struct {
	Name               string   `json:"name"`
	Description        string   `json:"description"`
	MailboxQuotaBytes  int64    `json:"mailbox_quota_bytes"`
	MaxMessageBytes    int64    `json:"max_message_bytes"`
	MaxAttachmentBytes int64    `json:"max_attachment_bytes"`
	MaxUsers           int      `json:"max_users"`
	DisabledServices   []string `json:"disabled_services"`
	SMS                bool     `json:"sms"`
	Antivirus          bool     `json:"antivirus"`
	Antispam           bool     `json:"antispam"`
}

func (q planReq) plan() directory.Plan {
	return directory.Plan{Name: q.Name, Description: q.Description, MailboxQuotaBytes: q.MailboxQuotaBytes,
		MaxMessageBytes: q.MaxMessageBytes, MaxAttachmentBytes: q.MaxAttachmentBytes, MaxUsers: q.MaxUsers,
		DisabledServices: q.DisabledServices, SMS: q.SMS, Antivirus: q.Antivirus, Antispam: q.Antispam}
}

type planDetail struct {
	planView
	Domains []string `json:"domains"`
}

type planUpdated struct {
	planView
	Changed []string `json:"changed_domains"`
}

func (s *Server) apiPlans(w http.ResponseWriter, r *http.Request, p *principal) error {
	ps, err := s.scoped(r, p).Plans(r.Context())
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, listOf(ps, viewPlan))
	return nil
}

func (s *Server) apiPlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	pl, ds, err := s.scoped(r, p).Plan(r.Context(), r.PathValue("plan"))
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, planDetail{planView: viewPlan(pl), Domains: nonNilStrings(ds)})
	return nil
}

func (s *Server) apiCreatePlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	if err := sc.Actor().CheckChangeDomains(); err != nil {
		return err
	}
	var req planReq
	if err := decode(w, r, &req); err != nil {
		return err
	}
	out, err := sc.CreatePlan(r.Context(), req.plan())
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusCreated, viewPlan(out))
	return nil
}

// apiUpdatePlan replaces the plan named by the path (a name in the body must match).
func (s *Server) apiUpdatePlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	if _, _, err := sc.Plan(r.Context(), r.PathValue("plan")); err != nil {
		return policyErr(err)
	}
	var req planReq
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != r.PathValue("plan") {
		return apiErr(http.StatusBadRequest, "invalid", "name: a plan is not renamed (the path names it)")
	}
	req.Name = r.PathValue("plan")
	out, changed, err := sc.UpdatePlan(r.Context(), req.plan())
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, planUpdated{planView: viewPlan(out), Changed: nonNilStrings(changed)})
	return nil
}

func (s *Server) apiDeletePlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.scoped(r, p).DeletePlan(r.Context(), r.PathValue("plan")); err != nil {
		return policyErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type assignPlanReq struct {
	Plan string `json:"plan"` // "" takes the domain off its plan
}

// apiAssignPlan puts the domain on a plan (PUT /api/v1/domains/{domain}/plan).
func (s *Server) apiAssignPlan(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	if _, err := sc.Domain(r.Context(), r.PathValue("domain")); err != nil {
		return err
	}
	if err := sc.Actor().CheckChangeDomains(); err != nil {
		return err
	}
	var req assignPlanReq
	if err := decode(w, r, &req); err != nil {
		return err
	}
	d, err := sc.AssignPlan(r.Context(), r.PathValue("domain"), req.Plan)
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, viewDomain(d))
	return nil
}
