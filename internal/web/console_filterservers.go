package web

import (
	"net/http"
)

// The filter servers page (/console/filters/servers, system admins): this node's view of
// its external filters, as GET /api/v1/filter-servers answers it. "Check now" is a GET
// with ?check=1, as the DNS page's check: it changes nothing, it asks the servers.

func (s *Server) consoleFilterServerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/filters/servers", s.consoleGET("filterservers", "Filter servers", s.fillFilterServers))
}

func (s *Server) fillFilterServers(r *http.Request, p *principal, d *pageData) error {
	d.Nav = "servers"
	check := r.URL.Query().Get("check") != ""
	v, err := s.filterServers(r, p, check)
	if err != nil {
		return err
	}
	d.Policy = &policyData{Servers: &v, Checked: check}
	return nil
}
