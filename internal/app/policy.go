package app

import (
	"context"
	"fmt"

	"mailgrid/internal/admin"
	"mailgrid/internal/delivery"
	"mailgrid/internal/filter"
)

// FilterAdmin is the filter state as administration commands see it: the block lists
// and domain rules (admin.FilterPolicy), the quarantine, and Release, which delivers a
// held copy past the filters as the server would. It opens the same state the server
// uses (DATA/filter embedded, the directory database in a cluster); Close releases it.
type FilterAdmin struct {
	Policy     *admin.FilterPolicy
	Quarantine filter.QuarantineStore
	pipeline   *delivery.Pipeline
	close      func() error
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
	return &FilterAdmin{
		Policy:     &admin.FilterPolicy{Dir: s.Dir, Lists: db, Rules: db, Switches: db},
		Quarantine: db, pipeline: p, close: db.Close,
	}, nil
}

// Release delivers a quarantined copy of domain to its recipient and removes it from the
// quarantine (delivery.Pipeline.Release).
func (f *FilterAdmin) Release(ctx context.Context, domain string, id int64) error {
	return f.pipeline.Release(ctx, domain, id)
}

// Close closes the filter state.
func (f *FilterAdmin) Close() error { return f.close() }
