package dns

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Cache is a Resolver that remembers answers for a short time: positive answers for TTL,
// "no such record" (ErrNotFound) for NegTTL (RFC 2308 negative caching); temporary
// failures are never cached. Go's resolver does not expose record TTLs, so the times are
// fixed caps, kept short (a minute) so a changed record is seen soon. The message
// filters use it: SPF, DKIM and DMARC look up the same sender domains again and again.
type Cache struct {
	r      Resolver
	ttl    time.Duration
	negTTL time.Duration
	max    int
	now    func() time.Time

	mu sync.Mutex
	m  map[cacheKey]cacheEntry
}

type cacheKey struct {
	kind byte // 'm' MX, 'i' IP, 't' TXT
	name string
}

type cacheEntry struct {
	mx      []*net.MX
	ip      []net.IP
	txt     []string
	err     error // nil or an ErrNotFound-wrapping error
	expires time.Time
}

// NewCache wraps r. ttl and negTTL <= 0 mean one minute and 30 seconds; max <= 0 means
// 10,000 entries (when full, expired entries go first, then the cache is emptied).
func NewCache(r Resolver, ttl, negTTL time.Duration, max int, now func() time.Time) *Cache {
	if ttl <= 0 {
		ttl = time.Minute
	}
	if negTTL <= 0 {
		negTTL = 30 * time.Second
	}
	if max <= 0 {
		max = 10000
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{r: r, ttl: ttl, negTTL: negTTL, max: max, now: now, m: map[cacheKey]cacheEntry{}}
}

func (c *Cache) get(k cacheKey) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !c.now().Before(e.expires) {
		return cacheEntry{}, false
	}
	return e, true
}

// put stores an answer; temporary errors are not stored.
func (c *Cache) put(k cacheKey, e cacheEntry) {
	if e.err != nil && !errors.Is(e.err, ErrNotFound) {
		return
	}
	ttl := c.ttl
	if e.err != nil {
		ttl = c.negTTL
	}
	now := c.now()
	e.expires = now.Add(ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, key)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = e
}

// LookupMX implements Resolver.
func (c *Cache) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	k := cacheKey{'m', domain}
	if e, ok := c.get(k); ok {
		return e.mx, e.err
	}
	mx, err := c.r.LookupMX(ctx, domain)
	c.put(k, cacheEntry{mx: mx, err: err})
	return mx, err
}

// LookupIP implements Resolver.
func (c *Cache) LookupIP(ctx context.Context, host string) ([]net.IP, error) {
	k := cacheKey{'i', host}
	if e, ok := c.get(k); ok {
		return e.ip, e.err
	}
	ip, err := c.r.LookupIP(ctx, host)
	c.put(k, cacheEntry{ip: ip, err: err})
	return ip, err
}

// LookupTXT implements Resolver.
func (c *Cache) LookupTXT(ctx context.Context, name string) ([]string, error) {
	k := cacheKey{'t', name}
	if e, ok := c.get(k); ok {
		return e.txt, e.err
	}
	txt, err := c.r.LookupTXT(ctx, name)
	c.put(k, cacheEntry{txt: txt, err: err})
	return txt, err
}

var _ Resolver = (*Cache)(nil)
