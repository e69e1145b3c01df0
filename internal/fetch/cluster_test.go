package fetch_test

import (
	"sync"
	"testing"

	"mailgrid/internal/fetch"
	fetchpg "mailgrid/internal/fetch/postgres"
	"mailgrid/internal/testkit/pgtest"
)

// TestFetchTwoNodesPostgres: two nodes' Fetchers share the cluster driver and run their
// schedules at the same moment, several times; the account's lease lets one fetch at a
// time, so every remote message is stored exactly once.
func TestFetchTwoNodesPostgres(t *testing.T) {
	w := newWorld(t, 0)
	db, err := fetchpg.Open(t.Context(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	w.fs = db // both fetchers below, and w.add, use the shared store
	nodes := []*fetch.Fetcher{w.fetcher(t), w.fetcher(t)}
	w.f = nodes[0]
	w.send(t, 1, 5)
	a := w.add(t, true, fetch.TLSStartTLS, remotePass)
	for round := range 3 {
		if round > 0 {
			w.send(t, 5+round, 1)
			w.clock.Add(a.Interval)
		}
		var wg sync.WaitGroup
		for _, f := range nodes {
			wg.Go(func() { f.RunDue(t.Context()) })
		}
		wg.Wait()
	}
	got := w.subjects(t, w.local, folder)
	if len(got) != 7 {
		t.Fatalf("stored %d messages, want each of the 7 once: %q", len(got), got)
	}
	seen := map[string]bool{}
	for _, s := range got {
		if seen[s] {
			t.Fatalf("%q stored twice", s)
		}
		seen[s] = true
	}
}
