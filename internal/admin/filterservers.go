package admin

import (
	"context"
	"fmt"
	"time"

	"mailgrid/internal/filter"
)

// FilterServersStale is how old a health check may be before FilterServers runs it
// again: a page view shows a view at most this old without anyone pressing "check now".
const FilterServersStale = time.Minute

// FilterServers is one node's view of its external filters (filter.Servers): each
// node has its own clients, counters and health checks, so in a cluster every node
// answers for itself and Node says which one this is.
type FilterServers struct {
	Node    string
	Servers []filter.ServerStatus
}

// FilterServers returns this node's external filters with their health and latency.
// Checks older than FilterServersStale run first; check runs every one now. System
// administrators only (ErrForbidden for anyone else: the filters serve every tenant);
// ErrNoFilters when the node has no filter state.
func (s *ScopedFilters) FilterServers(ctx context.Context, check bool) (FilterServers, error) {
	if !s.c.a.IsSystemAdmin() {
		return FilterServers{}, fmt.Errorf("%w: the filter servers are the system administrator's", ErrForbidden)
	}
	if s.f == nil {
		return FilterServers{}, ErrNoFilters
	}
	out := FilterServers{Node: s.f.Node, Servers: []filter.ServerStatus{}}
	if s.f.Servers == nil {
		return out, nil
	}
	age := FilterServersStale
	if check {
		age = 0
	}
	out.Servers = s.f.Servers.Status(ctx, age)
	return out, nil
}
