package sqlite

import (
	"strconv"
	"testing"

	"mailgrid/internal/store/storetest"
)

// BenchmarkList: storetest.BenchList (sorted, filtered pages of 50) over 1,000 and
// 100,000 messages.
//
//	go test -run XXX -bench List -benchtime 200x -v ./internal/store/sqlite
func BenchmarkList(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := benchStore(b)
			storetest.BenchList(b, s, n)
		})
	}
}
