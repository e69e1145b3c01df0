package app

import (
	"context"
	"time"
)

// purgeEvery is how often the domain purge job looks for deleted domains past their grace.
const purgeEvery = 10 * time.Minute

// purgeDomains runs the domain purge job (admin.Service.PurgeDue) now and every purgeEvery
// until ctx ends. Every node runs it: each due domain is claimed by one node (with a
// lease), so several nodes share the work and a node that dies mid-purge is replaced.
func (s *System) purgeDomains(ctx context.Context) {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		purged, err := s.Admin.PurgeDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("domain purge", "err", err)
		}
		for _, d := range purged {
			s.Log.Info("domain purged", "domain", d)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
