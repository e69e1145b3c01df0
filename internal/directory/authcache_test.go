package directory

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestAuthCacheHit(t *testing.T) {
	c := NewAuthCache(10, time.Minute, nil)
	if c.Hit(1, "pw", "h1") {
		t.Fatal("hit on an empty cache")
	}
	c.Add(1, "pw", "h1")
	if !c.Hit(1, "pw", "h1") {
		t.Fatal("miss after Add")
	}
	for _, m := range []struct {
		id       int64
		pw, hash string
	}{{2, "pw", "h1"}, {1, "pW", "h1"}, {1, "pw ", "h1"}, {1, "", "h1"}} {
		if c.Hit(m.id, m.pw, m.hash) {
			t.Errorf("Hit(%d, %q, %q) = true; only (1, pw, h1) was added", m.id, m.pw, m.hash)
		}
	}
	// A changed stored hash misses and drops the entry for good.
	if c.Hit(1, "pw", "h2") {
		t.Error("hit with another stored hash")
	}
	if c.Hit(1, "pw", "h1") || c.Len() != 0 {
		t.Errorf("entry kept after a hash mismatch (len %d)", c.Len())
	}
}

func TestAuthCacheTTL(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	c := NewAuthCache(10, time.Minute, clk.now)
	c.Add(1, "pw", "h")
	clk.add(59 * time.Second)
	if !c.Hit(1, "pw", "h") {
		t.Fatal("miss within the TTL")
	}
	clk.add(time.Second) // a hit does not extend the entry
	if c.Hit(1, "pw", "h") {
		t.Fatal("hit at the TTL")
	}
	if c.Len() != 0 {
		t.Errorf("expired entry kept: len %d", c.Len())
	}
}

func TestAuthCacheLRU(t *testing.T) {
	c := NewAuthCache(3, time.Minute, nil)
	for id := range int64(3) {
		c.Add(id, "pw", "h")
	}
	c.Hit(0, "pw", "h") // 0 is now the most recently used; 1 the least
	c.Add(3, "pw", "h")
	if c.Len() != 3 {
		t.Fatalf("len %d; want the bound, 3", c.Len())
	}
	for id, want := range []bool{true, false, true, true} {
		if got := c.Hit(int64(id), "pw", "h"); got != want {
			t.Errorf("Hit(%d) = %v; want %v", id, got, want)
		}
	}
	c.Add(3, "pw", "h2") // replacing an entry does not grow the cache
	if c.Len() != 3 || !c.Hit(3, "pw", "h2") || c.Hit(3, "pw", "h") {
		t.Errorf("replace: len %d", c.Len())
	}
}

func TestAuthCacheNil(t *testing.T) {
	var c *AuthCache
	c.Add(1, "pw", "h")
	if c.Hit(1, "pw", "h") || c.Len() != 0 {
		t.Error("a nil cache holds something")
	}
}

// Two caches (two processes) have different keys: an entry is not a stable function of
// the password.
func TestAuthCacheKeyPerInstance(t *testing.T) {
	a, b := NewAuthCache(1, time.Minute, nil), NewAuthCache(1, time.Minute, nil)
	if a.mac(1, "pw") == b.mac(1, "pw") {
		t.Error("same MAC under two caches")
	}
	first, again := a.mac(1, "pw"), a.mac(1, "pw")
	if a.mac(1, "pw") == a.mac(1, "pw2") || a.mac(2, "pw") == first || first != again {
		t.Error("MAC is not a deterministic function of account and password")
	}
}

func TestAuthCacheConcurrent(t *testing.T) {
	c := NewAuthCache(50, time.Minute, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				id := int64(i % 80)
				pw := fmt.Sprint("pw", id)
				if c.Hit(id, pw, "h") {
					continue
				}
				if g%2 == 0 {
					c.Add(id, pw, "h")
				} else if c.Hit(id, pw+"x", "h") {
					t.Error("hit with a password never added")
				}
			}
		})
	}
	wg.Wait()
	if c.Len() > 50 {
		t.Errorf("len %d over the bound", c.Len())
	}
}
