package sqlite

import (
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
)

// TestListLargeFilter runs the list cases with every filtered page read by walking the
// sort index (the path of filtered sets larger than smallFilter), not through the
// partial index; the conformance suite covers the other path.
func TestListLargeFilter(t *testing.T) {
	old := smallFilter
	smallFilter = -1
	t.Cleanup(func() { smallFilter = old })
	var d dirs
	storetest.RunList(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.get(t), pub, 0)
	})
}
