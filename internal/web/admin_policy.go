package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
)

// The filter policy API: block lists, filter rules and per-domain antivirus/antispam
// switches (admin.ScopedFilters decides who may; the system-wide list and rules are
// under /api/v1/system, a domain's under /api/v1/domains/{domain}), and the quarantine.

// policyErr maps the filter state's errors to their API form (the rest to toAPIError).
func policyErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, filter.ErrInvalid):
		return apiErr(http.StatusBadRequest, "invalid", "%v", err)
	case errors.Is(err, filter.ErrExists):
		return apiErr(http.StatusConflict, "exists", "%v", err)
	case errors.Is(err, filter.ErrNotFound):
		return errNotFound()
	case errors.Is(err, directory.ErrPlanInUse):
		return apiErr(http.StatusConflict, "plan_in_use", "%v", err)
	case errors.Is(err, admin.ErrNoFilters), errors.Is(err, admin.ErrNoSwitches),
		errors.Is(err, admin.ErrNoResolver), errors.Is(err, admin.ErrNoPlans):
		return apiErr(http.StatusServiceUnavailable, "unavailable", "%v", err)
	}
	return err
}

func (s *Server) filters(r *http.Request, p *principal) *admin.ScopedFilters {
	return s.scoped(r, p).Filters(s.opt.Filters)
}

type blockView struct {
	Domain  string    `json:"domain"` // "" = the system list
	Kind    string    `json:"kind"`
	Value   string    `json:"value"`
	Note    string    `json:"note"`
	Created time.Time `json:"created"`
}

func viewBlock(b filter.BlockEntry) blockView {
	return blockView{Domain: b.Domain, Kind: b.Kind.String(), Value: b.Value, Note: b.Note, Created: b.Created}
}

type blockReq struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
	Note  string `json:"note"`
}

type ruleView struct {
	ID         int64              `json:"id"`
	Domain     string             `json:"domain"`
	Name       string             `json:"name"`
	Position   int                `json:"position"`
	Enabled    bool               `json:"enabled"`
	MatchAny   bool               `json:"match_any"`
	Conditions []filter.Condition `json:"conditions"`
	Action     string             `json:"action"`
	Arg        string             `json:"arg"`
}

func viewRule(r filter.DomainRule) ruleView {
	cs := r.Conditions
	if cs == nil {
		cs = []filter.Condition{}
	}
	return ruleView{ID: r.ID, Domain: r.Domain, Name: r.Name, Position: r.Position, Enabled: r.Enabled,
		MatchAny: r.MatchAny, Conditions: cs, Action: string(r.Action), Arg: r.Arg}
}

type ruleReq struct {
	Name       string             `json:"name"`
	Position   int                `json:"position"`
	Enabled    *bool              `json:"enabled"` // default true
	MatchAny   bool               `json:"match_any"`
	Conditions []filter.Condition `json:"conditions"`
	Action     string             `json:"action"`
	Arg        string             `json:"arg"`
}

func (q ruleReq) rule(domain string, id int64) filter.DomainRule {
	on := q.Enabled == nil || *q.Enabled
	return filter.DomainRule{ID: id, Domain: domain, Name: q.Name, Position: q.Position, Enabled: on,
		MatchAny: q.MatchAny, Conditions: q.Conditions, Action: filter.RuleAction(q.Action), Arg: q.Arg}
}

type heldView struct {
	ID      int64     `json:"id"`
	Domain  string    `json:"domain"`
	Rcpt    string    `json:"rcpt"`
	From    string    `json:"from"`
	Reason  string    `json:"reason"`
	Mailet  string    `json:"mailet"`
	Size    int64     `json:"size"`
	Created time.Time `json:"created"`
}

func viewHeld(h filter.Held) heldView {
	return heldView{ID: h.ID, Domain: h.Domain, Rcpt: h.Rcpt.String(), From: h.From.String(), Reason: h.Reason,
		Mailet: h.Mailet, Size: h.Size, Created: h.Created}
}

// system is "" for the /api/v1/system routes, else the {domain} of the path.
func policyDomain(r *http.Request) string { return r.PathValue("domain") }

func (s *Server) apiBlocks(w http.ResponseWriter, r *http.Request, p *principal) error {
	bs, err := s.filters(r, p).Blocks(r.Context(), policyDomain(r))
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, listOf(bs, viewBlock))
	return nil
}

func (s *Server) apiAddBlock(w http.ResponseWriter, r *http.Request, p *principal) error {
	f := s.filters(r, p)
	// Authorise before reading the body: a refused caller learns nothing from its shape.
	if _, err := f.Blocks(r.Context(), policyDomain(r)); err != nil {
		return policyErr(err)
	}
	var req blockReq
	if err := decode(w, r, &req); err != nil {
		return err
	}
	b, err := f.AddBlock(r.Context(), policyDomain(r), req.Kind, req.Value, req.Note)
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusCreated, viewBlock(b))
	return nil
}

// apiRemoveBlock removes ?kind=&value= (a value may hold "/": a CIDR prefix).
func (s *Server) apiRemoveBlock(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	if err := s.filters(r, p).RemoveBlock(r.Context(), policyDomain(r), q.Get("kind"), q.Get("value")); err != nil {
		return policyErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiRules(w http.ResponseWriter, r *http.Request, p *principal) error {
	rs, err := s.filters(r, p).Rules(r.Context(), policyDomain(r))
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, listOf(rs, viewRule))
	return nil
}

func (s *Server) apiPutRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	f := s.filters(r, p)
	var id int64
	if r.Method == http.MethodPut {
		var err error
		if id, err = pathID(r, "rule"); err != nil {
			return err
		}
		if _, err := f.Rule(r.Context(), policyDomain(r), id); err != nil {
			return policyErr(err)
		}
	} else if _, err := f.Rules(r.Context(), policyDomain(r)); err != nil {
		return policyErr(err)
	}
	var req ruleReq
	if err := decode(w, r, &req); err != nil {
		return err
	}
	out, err := f.PutRule(r.Context(), req.rule(policyDomain(r), id))
	if err != nil {
		return policyErr(err)
	}
	status := http.StatusOK
	if id == 0 {
		status = http.StatusCreated
	}
	s.writeJSON(w, status, viewRule(out))
	return nil
}

func (s *Server) apiDeleteRule(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	if err := s.filters(r, p).DeleteRule(r.Context(), policyDomain(r), id); err != nil {
		return policyErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// switchesView is a domain's filter switches as the API shows them: on/off, not the
// stored "No" form.
type switchesView struct {
	Antivirus bool `json:"antivirus"`
	Antispam  bool `json:"antispam"`
}

type switchesReq struct {
	Antivirus *bool `json:"antivirus"`
	Antispam  *bool `json:"antispam"`
}

func (s *Server) apiSwitches(w http.ResponseWriter, r *http.Request, p *principal) error {
	sw, err := s.filters(r, p).Switches(r.Context(), policyDomain(r))
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, switchesView{Antivirus: !sw.NoAntivirus, Antispam: !sw.NoAntispam})
	return nil
}

// apiSetSwitches changes the switches named in the body; the others stay.
func (s *Server) apiSetSwitches(w http.ResponseWriter, r *http.Request, p *principal) error {
	f := s.filters(r, p)
	sw, err := f.Switches(r.Context(), policyDomain(r))
	if err != nil {
		return policyErr(err)
	}
	var req switchesReq
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Antivirus != nil {
		sw.NoAntivirus = !*req.Antivirus
	}
	if req.Antispam != nil {
		sw.NoAntispam = !*req.Antispam
	}
	if err := f.SetSwitches(r.Context(), policyDomain(r), sw); err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, switchesView{Antivirus: !sw.NoAntivirus, Antispam: !sw.NoAntispam})
	return nil
}

// apiHeld lists held mail of {domain}, or of every domain at /api/v1/quarantine
// (system admins); ?limit= (default 200).
func (s *Server) apiHeld(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apiErr(http.StatusBadRequest, "invalid", "limit: 1 to 1000")
		}
		limit = n
	}
	hs, err := s.filters(r, p).Held(r.Context(), policyDomain(r), limit)
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, listOf(hs, viewHeld))
	return nil
}

func (s *Server) apiReleaseHeld(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "held")
	if err != nil {
		return err
	}
	if err := s.filters(r, p).ReleaseHeld(r.Context(), policyDomain(r), id); err != nil {
		return policyErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiDeleteHeld(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "held")
	if err != nil {
		return err
	}
	if err := s.filters(r, p).DeleteHeld(r.Context(), policyDomain(r), id); err != nil {
		return policyErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dnsSource is Options.DNS with its host defaulted to the node's hostname.
func (s *Server) dnsSource() admin.DNSSource {
	src := s.opt.DNS
	if src.Host == "" {
		src.Host = s.opt.Hostname
	}
	return src
}

func (s *Server) apiDNSRecords(w http.ResponseWriter, r *http.Request, p *principal) error {
	recs, err := s.scoped(r, p).DNSRecords(r.Context(), r.PathValue("domain"), s.dnsSource())
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, list[admin.DNSRecord]{Items: nonNilSlice(recs)})
	return nil
}

func (s *Server) apiDNSCheck(w http.ResponseWriter, r *http.Request, p *principal) error {
	cs, err := s.scoped(r, p).CheckDNS(r.Context(), r.PathValue("domain"), s.dnsSource())
	if err != nil {
		return policyErr(err)
	}
	s.writeJSON(w, http.StatusOK, list[admin.DNSCheck]{Items: nonNilSlice(cs)})
	return nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
