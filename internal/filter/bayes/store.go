package bayes

import (
	"context"
	"math"
	"sync"
)

// Counts is how many trained spam and ham messages contained a token; as a total, how many
// spam and ham messages were trained.
type Counts struct {
	Spam, Ham uint32
}

// TokenStore holds one user's training data. Implementations must be safe for concurrent
// use. The in-memory MemStore is the reference; a database-backed store per user (or a
// MemStore serialised into a per-user blob) comes with the store wiring.
type TokenStore interface {
	// Get returns the counts of tokens, in the same order; an unknown token has zero
	// counts.
	Get(ctx context.Context, tokens []string) ([]Counts, error)
	// Totals returns the number of spam and ham messages trained.
	Totals(ctx context.Context) (Counts, error)
	// Add adds spam and ham (each -1, 0 or +1 for one message; negative to untrain) to
	// the counts of every token and to the totals, as one atomic change: when it returns
	// nil the whole change is visible, on error none of it. Counts saturate at zero
	// and at math.MaxUint32, and tokens whose counts reach zero are forgotten.
	Add(ctx context.Context, tokens []string, spam, ham int) error
}

// MemStore is an in-memory TokenStore with a compact serialisation (WriteTo, ReadFrom,
// MarshalBinary, UnmarshalBinary; see codec.go). The zero value is not usable: call
// NewMemStore.
type MemStore struct {
	mu     sync.RWMutex
	tokens map[string]Counts
	totals Counts
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore { return &MemStore{tokens: map[string]Counts{}} }

// Get implements TokenStore.
func (m *MemStore) Get(_ context.Context, tokens []string) ([]Counts, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Counts, len(tokens))
	for i, tok := range tokens {
		out[i] = m.tokens[tok]
	}
	return out, nil
}

// Totals implements TokenStore.
func (m *MemStore) Totals(context.Context) (Counts, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.totals, nil
}

// Add implements TokenStore.
func (m *MemStore) Add(_ context.Context, tokens []string, spam, ham int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.totals = m.totals.add(spam, ham)
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		c := m.tokens[tok].add(spam, ham)
		if c == (Counts{}) {
			delete(m.tokens, tok)
		} else {
			m.tokens[tok] = c
		}
	}
	return nil
}

// Len returns the number of distinct tokens held.
func (m *MemStore) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tokens)
}

// add returns c with the deltas applied, saturating at 0 and math.MaxUint32.
func (c Counts) add(spam, ham int) Counts {
	return Counts{Spam: saturate(c.Spam, spam), Ham: saturate(c.Ham, ham)}
}

func saturate(v uint32, d int) uint32 {
	n := int64(v) + int64(d)
	switch {
	case n < 0:
		return 0
	case n > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(n)
}
