package app

import (
	"context"
	"fmt"

	"mailgrid/internal/admin"
	"mailgrid/internal/delivery"
)

// FilterAdmin is the filter state as administration commands see it: admin.FilterAdmin
// (block lists, domain rules, switches, the quarantine, and Release, which delivers a held
// copy past the filters as the server would) over the same state the server uses
// (DATA/filter embedded, the directory database in a cluster). Close releases it.
type FilterAdmin struct {
	*admin.FilterAdmin
	close func() error
}

// OpenFilterAdmin opens the filter state for administration.
func (s *System) OpenFilterAdmin(ctx context.Context) (*FilterAdmin, error) {
	db, err := s.openFilterState(ctx)
	if err != nil {
		return nil, fmt.Errorf("filter state: %w", err)
	}
	p := delivery.New(delivery.Options{
		Directory: s.Dir, Shards: s.Shards, Queue: s.Queue, Hostname: s.Cfg.Hostname,
		Logger: s.Log.With("svc", "delivery"), Quarantine: db,
	})
	return &FilterAdmin{FilterAdmin: newFilterAdmin(s, db, p), close: db.Close}, nil
}

// newFilterAdmin is the administration view of the filter state db; releases go through
// p (none when p is nil).
func newFilterAdmin(s *System, db filterState, p *delivery.Pipeline) *admin.FilterAdmin {
	fa := &admin.FilterAdmin{
		Policy:     &admin.FilterPolicy{Dir: s.Dir, Lists: db, Rules: db, Switches: db},
		Quarantine: db,
	}
	if p != nil {
		fa.Release = p.Release
	}
	return fa
}

// Close closes the filter state.
func (f *FilterAdmin) Close() error { return f.close() }
