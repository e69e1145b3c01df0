package sqlite

import (
	"testing"

	"mailgrid/internal/store/storetest"
)

// BenchmarkSearchText: storetest.BenchSearchText (10,000 messages, the FTS5 index).
//
//	go test -run XXX -bench SearchText -v ./internal/store/sqlite
func BenchmarkSearchText(b *testing.B) {
	s, err := Open(b.Context(), Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	storetest.BenchSearchText(b, s)
}
