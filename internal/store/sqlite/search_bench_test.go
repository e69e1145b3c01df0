package sqlite

import (
	"testing"

	"mailgrid/internal/store/storetest"
)

// BenchmarkSearchText: storetest.BenchSearchText (10,000 messages, the FTS5 index).
//
//	go test -run XXX -bench SearchText -v ./internal/store/sqlite
func BenchmarkSearchText(b *testing.B) {
	s := benchStore(b)
	storetest.BenchSearchText(b, s)
}
