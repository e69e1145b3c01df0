// Package ports hands out loopback TCP ports for tests that start servers in other
// processes (the built binary), which must be told their ports before they bind them.
//
// A port the kernel picks for 127.0.0.1:0 comes from the ephemeral range, the same range
// every outgoing connection takes its source port from; between the moment a test closes
// its probe and the moment the server binds, a client socket of the same machine can take
// it. So Free picks ports below the ephemeral range (read from
// /proc/sys/net/ipv4/ip_local_port_range), at random so that test processes running side
// by side rarely meet, checks each by binding it, and never hands out one twice in a
// process.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
)

var handedOut = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// low and high bound the ports Free picks from.
func bounds() (low, high int) {
	low, high = 20000, 32768 // below Linux's default ephemeral range 32768-60999
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	var lo, hi int
	if _, err := fmt.Sscan(strings.TrimSpace(string(data)), &lo, &hi); err == nil && lo > 12000 {
		high = lo
		low = max(10000, lo-12768)
	}
	return low, high
}

// Free returns n distinct "127.0.0.1:PORT" addresses that were free a moment ago, outside
// the ephemeral range, never returned before in this process.
func Free(t testing.TB, n int) []string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	low, high := bounds()
	var addrs []string
	for tries := 0; len(addrs) < n && tries < 200*n; tries++ {
		p := low + rand.IntN(high-low)
		if handedOut.m[p] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		handedOut.m[p] = true
		addrs = append(addrs, addr)
	}
	if len(addrs) < n {
		t.Fatalf("found only %d of %d free ports in %d-%d", len(addrs), n, low, high)
	}
	return addrs
}
