package web

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimiterKeys bounds the memory of one limiter map; past it, buckets that are full
// again (clients that stopped) are forgotten first.
const maxLimiterKeys = 1 << 16

// limiter is a set of token buckets by key (client address or account), in memory: each
// node limits on its own, which bounds an attacker per node.
type limiter struct {
	limit Limit
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

func newLimiter(l Limit) *limiter {
	return &limiter{limit: l, m: make(map[string]*rate.Limiter)}
}

func (l *limiter) get(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.m[key]; ok {
		return b
	}
	if len(l.m) >= maxLimiterKeys {
		l.evict()
	}
	every := rate.Every(l.limit.Every)
	if l.limit.Every <= 0 {
		every = rate.Inf
	}
	b := rate.NewLimiter(every, l.limit.Burst)
	l.m[key] = b
	return b
}

// evict forgets full buckets, or if none, an arbitrary half. Called with mu held.
func (l *limiter) evict() {
	now := time.Now()
	for k, b := range l.m {
		if b.TokensAt(now) >= float64(l.limit.Burst) {
			delete(l.m, k)
		}
	}
	for k := range l.m {
		if len(l.m) < maxLimiterKeys/2 {
			break
		}
		delete(l.m, k)
	}
}

// allow takes one token for key; false (with the seconds until the next) when empty.
func (l *limiter) allow(key string) (bool, int) {
	b := l.get(key)
	r := b.Reserve()
	if !r.OK() {
		return false, 60
	}
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, int(math.Ceil(d.Seconds()))
	}
	return true, 0
}

// blocked reports whether key has no token left, without taking one.
func (l *limiter) blocked(key string) (bool, int) {
	b := l.get(key)
	if b.Tokens() >= 1 {
		return false, 0
	}
	return true, max(1, int(math.Ceil(l.limit.Every.Seconds())))
}

// clientIP is the request's peer address. X-Forwarded-For is not trusted: a proxy in
// front of mailgrid must be configured to pass connections, or the limits are per proxy.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipKey is the rate-limit key of an address: IPv6 clients by their /64, since one
// subscriber gets a whole /64.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}
