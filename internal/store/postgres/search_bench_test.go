package postgres

import (
	"testing"

	"mailgrid/internal/store/storetest"
	"mailgrid/internal/testkit/pgtest"
)

// BenchmarkSearchText: storetest.BenchSearchText (10,000 messages, the pg_trgm index).
//
//	go test -run XXX -bench SearchText -v ./internal/store/postgres
func BenchmarkSearchText(b *testing.B) {
	storetest.BenchSearchText(b, openAt(b, pgtest.DSN(b), Options{MaxConns: 20}))
}
