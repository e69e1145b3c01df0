package app

import (
	"mailgrid/internal/admin"
	"mailgrid/internal/delivery"
)

// webFilters is the filter state the web front-end administers: the server's own
// (flt, nil when the server runs without filters: the routes then answer 503), with
// releases delivered through the server's pipeline p, and this node's external filter
// servers.
func webFilters(s *System, p *delivery.Pipeline, flt *filters) *admin.FilterAdmin {
	if flt == nil || flt.db == nil {
		return nil
	}
	fa := newFilterAdmin(s, flt.db, p)
	fa.Servers, fa.Node = flt.servers, s.Cfg.NodeName()
	return fa
}
