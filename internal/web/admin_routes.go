package web

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"strings"

	"mailgrid/internal/admin"
)

// adminRoutes are the administration API routes beyond domains, accounts, aliases and
// audit (routes.go): CSV import/export, broadcast, service plans, filter policy,
// quarantine and DNS.
func (s *Server) adminRoutes() []route {
	r := func(method, path, auth, scope string, h handlerFunc) route {
		return route{Route{method, path, auth, scope}, h}
	}
	const d = "/api/v1/domains/{domain}"
	return []route{
		r("GET", d+"/accounts.csv", AuthAny, ScopeAdminRead, s.apiExportAccounts),
		r("POST", d+"/accounts.csv", AuthAny, ScopeAdminWrite, s.apiImportAccounts),
		r("POST", d+"/broadcast", AuthAny, ScopeAdminWrite, s.apiBroadcast),
		// Service plans (admin_plans.go).
		r("GET", "/api/v1/plans", AuthAny, ScopeAdminRead, s.apiPlans),
		r("POST", "/api/v1/plans", AuthAny, ScopeAdminWrite, s.apiCreatePlan),
		r("GET", "/api/v1/plans/{plan}", AuthAny, ScopeAdminRead, s.apiPlan),
		r("PUT", "/api/v1/plans/{plan}", AuthAny, ScopeAdminWrite, s.apiUpdatePlan),
		r("DELETE", "/api/v1/plans/{plan}", AuthAny, ScopeAdminWrite, s.apiDeletePlan),
		r("PUT", d+"/plan", AuthAny, ScopeAdminWrite, s.apiAssignPlan),
		// Filter policy and quarantine (admin_policy.go): a domain's, and the system's.
		r("GET", d+"/blocks", AuthAny, ScopeAdminRead, s.apiBlocks),
		r("POST", d+"/blocks", AuthAny, ScopeAdminWrite, s.apiAddBlock),
		r("DELETE", d+"/blocks", AuthAny, ScopeAdminWrite, s.apiRemoveBlock),
		r("GET", d+"/rules", AuthAny, ScopeAdminRead, s.apiRules),
		r("POST", d+"/rules", AuthAny, ScopeAdminWrite, s.apiPutRule),
		r("PUT", d+"/rules/{rule}", AuthAny, ScopeAdminWrite, s.apiPutRule),
		r("DELETE", d+"/rules/{rule}", AuthAny, ScopeAdminWrite, s.apiDeleteRule),
		r("GET", d+"/filter-switches", AuthAny, ScopeAdminRead, s.apiSwitches),
		r("PUT", d+"/filter-switches", AuthAny, ScopeAdminWrite, s.apiSetSwitches),
		r("GET", d+"/quarantine", AuthAny, ScopeAdminRead, s.apiHeld),
		r("POST", d+"/quarantine/{held}/release", AuthAny, ScopeAdminWrite, s.apiReleaseHeld),
		r("DELETE", d+"/quarantine/{held}", AuthAny, ScopeAdminWrite, s.apiDeleteHeld),
		r("GET", "/api/v1/quarantine", AuthAny, ScopeAdminRead, s.apiHeld),
		r("GET", "/api/v1/system/blocks", AuthAny, ScopeAdminRead, s.apiBlocks),
		r("POST", "/api/v1/system/blocks", AuthAny, ScopeAdminWrite, s.apiAddBlock),
		r("DELETE", "/api/v1/system/blocks", AuthAny, ScopeAdminWrite, s.apiRemoveBlock),
		r("GET", "/api/v1/system/rules", AuthAny, ScopeAdminRead, s.apiRules),
		r("POST", "/api/v1/system/rules", AuthAny, ScopeAdminWrite, s.apiPutRule),
		r("PUT", "/api/v1/system/rules/{rule}", AuthAny, ScopeAdminWrite, s.apiPutRule),
		r("DELETE", "/api/v1/system/rules/{rule}", AuthAny, ScopeAdminWrite, s.apiDeleteRule),
		// DNS records of a domain and whether they are published (admin_policy.go).
		r("GET", d+"/dns", AuthAny, ScopeAdminRead, s.apiDNSRecords),
		r("GET", d+"/dns/check", AuthAny, ScopeAdminRead, s.apiDNSCheck),
	}
}

// apiExportAccounts answers the domain's accounts as CSV
// (GET /api/v1/domains/{domain}/accounts.csv).
func (s *Server) apiExportAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	// Built in memory first, so an error is still a JSON error and not half a file.
	var buf bytes.Buffer
	if err := sc.ExportAccounts(r.Context(), dm.Name, &buf); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": dm.Name + "-accounts.csv"}))
	if _, err := w.Write(buf.Bytes()); err != nil {
		s.log.Debug("web: write csv", "err", err)
	}
	return nil
}

type importCSV struct {
	CSV string `json:"csv"`
}

type importAnswer struct {
	Created int           `json:"created"`
	Items   []accountView `json:"items"`
}

// apiImportAccounts creates the accounts of a CSV file: the body as text/csv, or JSON
// {"csv": "..."} (POST /api/v1/domains/{domain}/accounts.csv). The whole file is checked
// first; any problem refuses it and nothing is created.
func (s *Server) apiImportAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	var file io.Reader
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "text/csv" {
		file = http.MaxBytesReader(w, r.Body, admin.MaxImportBytes)
	} else {
		var req importCSV
		if err := decode(w, r, &req); err != nil {
			return err
		}
		file = strings.NewReader(req.CSV)
	}
	created, err := s.importAccounts(r, sc, dm.Name, file)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusCreated, importAnswer{Created: len(created.Items), Items: created.Items})
	return nil
}

// importAccounts parses and imports a CSV file into domain.
func (s *Server) importAccounts(r *http.Request, sc *admin.Scoped, domain string, file io.Reader) (list[accountView], error) {
	rows, err := admin.ParseAccountsCSV(file, domain)
	if err != nil {
		return list[accountView]{}, err
	}
	as, err := sc.ImportAccounts(r.Context(), domain, rows)
	return listOf(as, viewAccount), err
}

type broadcastReq struct {
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

type broadcastAnswer struct {
	MessageID string   `json:"message_id"`
	Delivered int      `json:"delivered"`
	Failed    []string `json:"failed"`
}

// apiBroadcast sends one plain-text message to every enabled account of the domain
// (POST /api/v1/domains/{domain}/broadcast).
func (s *Server) apiBroadcast(w http.ResponseWriter, r *http.Request, p *principal) error {
	sc := s.scoped(r, p)
	dm, err := sc.Domain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	var req broadcastReq
	if err := decode(w, r, &req); err != nil {
		return err
	}
	res, err := sc.Broadcast(r.Context(), dm.Name, req.Subject, req.Body)
	if err != nil {
		return err
	}
	s.writeJSON(w, http.StatusOK, broadcastAnswer{MessageID: res.MessageID, Delivered: res.Delivered, Failed: nonNilStrings(res.Failed)})
	return nil
}
