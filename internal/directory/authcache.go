package directory

// Verified-login cache.
//
// An argon2id verification costs ~30 ms of CPU by design, which caps a two-core node at
// ~60 logins/s; mail clients that open a connection per check (and IMAP benchmarks with a
// login per cycle) need far more. Like Dovecot's auth cache (auth_cache_size,
// auth_cache_ttl), AuthCache remembers logins that verified, so the next login with the
// same password skips the hash. Unlike Dovecot's, it never answers without the directory:
// the driver still reads the account (one indexed read) and the cache only stands in for
// the password verification, and only while the stored hash is the one that verified.
//
// An entry is keyed by HMAC-SHA256 under a random per-process key of (account ID,
// password), so neither the password nor anything an attacker could test offline is held
// in memory, and its value is a SHA-256 fingerprint of the stored hash that verified, plus
// an expiry. A hit needs the same account, the same password and the same stored hash, so a
// password change (or a rehash, or an imported hash) misses at once; a deleted account has
// no hash to compare; Enabled is read fresh on every login by the driver and checked after
// the cache, as after a verification. Only successes are added: a wrong password always
// costs a full verification. Size is bounded (least recently used entries go first) and
// entries expire ttl after they were added, hit or not.

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"time"
)

// Default AuthCache bounds: Dovecot's auth_cache_ttl is one hour; we keep a verified
// password five minutes, enough for clients that reconnect for every check.
const (
	DefaultAuthCacheSize = 10000
	DefaultAuthCacheTTL  = 5 * time.Minute
)

// AuthCache is a bounded, expiring set of verified (account, password, stored hash)
// triples. Its methods are safe for concurrent use; a nil *AuthCache is an empty cache that
// stores nothing, so a driver can turn caching off with nil.
type AuthCache struct {
	key  [32]byte
	size int
	ttl  time.Duration
	now  func() time.Time

	mu    sync.Mutex
	byKey map[[32]byte]*list.Element // of *authEntry
	lru   list.List                  // front: most recently used
}

type authEntry struct {
	key     [32]byte
	hashFP  [32]byte // SHA-256 of the stored hash that verified
	expires time.Time
}

// NewAuthCache returns a cache of at most size entries (at least 1) that keeps each for
// ttl. now is the clock (nil: time.Now).
func NewAuthCache(size int, ttl time.Duration, now func() time.Time) *AuthCache {
	if now == nil {
		now = time.Now
	}
	c := &AuthCache{size: max(1, size), ttl: ttl, now: now, byKey: make(map[[32]byte]*list.Element)}
	rand.Read(c.key[:]) // never fails (crypto/rand crashes the program instead)
	return c
}

// Hit reports whether account id logged in with password pw while its stored hash was
// hash, within the TTL. The driver calls it with the hash it has just read, before
// verifying; on true it may skip the verification.
func (c *AuthCache) Hit(id int64, pw, hash string) bool {
	if c == nil {
		return false
	}
	k, fp := c.mac(id, pw), sha256.Sum256([]byte(hash))
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return false
	}
	e := el.Value.(*authEntry)
	if !c.now().Before(e.expires) {
		c.remove(el)
		return false
	}
	if subtle.ConstantTimeCompare(e.hashFP[:], fp[:]) != 1 {
		// The hash changed (password change, rehash): the entry can never hit again.
		c.remove(el)
		return false
	}
	c.lru.MoveToFront(el)
	return true
}

// Add records that account id logged in with password pw against stored hash hash. Call
// it only after a complete success (password verified, account and domain enabled, any
// rehash stored, with hash the one now stored).
func (c *AuthCache) Add(id int64, pw, hash string) {
	if c == nil {
		return
	}
	e := &authEntry{key: c.mac(id, pw), hashFP: sha256.Sum256([]byte(hash)), expires: c.now().Add(c.ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[e.key]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.size {
		c.remove(c.lru.Back())
	}
	c.byKey[e.key] = c.lru.PushFront(e)
}

// Len is the number of entries held, expired ones included until they are met or evicted.
func (c *AuthCache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *AuthCache) remove(el *list.Element) {
	delete(c.byKey, el.Value.(*authEntry).key)
	c.lru.Remove(el)
}

// mac is HMAC-SHA256(key, id || pw): the ID has a fixed width, so no two (id, pw) pairs
// give the same input.
func (c *AuthCache) mac(id int64, pw string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	m.Write(b[:])
	m.Write([]byte(pw))
	var out [32]byte
	m.Sum(out[:0])
	return out
}
