package app

import (
	"mailgrid/internal/admin"
	"mailgrid/internal/delivery"
)

// webFilters is the filter state the web front-end administers: the server's own
// (flt, nil when the server runs without filters: the routes then answer 503), with
// releases delivered through the server's pipeline p.
func webFilters(s *System, p *delivery.Pipeline, flt *filters) *admin.FilterAdmin {
	if flt == nil || flt.db == nil {
		return nil
	}
	return newFilterAdmin(s, flt.db, p)
}
