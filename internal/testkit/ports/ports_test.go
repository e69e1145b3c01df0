package ports

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeDistinctBindableBelowEphemeral(t *testing.T) {
	low, high := bounds()
	seen := map[string]bool{}
	for range 5 {
		for _, a := range Free(t, 8) {
			if seen[a] {
				t.Fatalf("%s handed out twice", a)
			}
			seen[a] = true
			_, port, err := net.SplitHostPort(a)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := strconv.Atoi(port)
			if p < low || p >= high {
				t.Fatalf("port %d outside %d-%d", p, low, high)
			}
			l, err := net.Listen("tcp", a)
			if err != nil {
				t.Fatalf("%s not bindable: %v", a, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
