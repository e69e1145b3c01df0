// Package sqlitekittest holds the test helpers the SQLite drivers share, the counterpart
// of pgkit/pgkittest.
package sqlitekittest

import (
	"sync"
	"testing"
)

// PerTest gives each test of a conformance suite one directory (its t.TempDir), so the
// suite's reopen of a driver finds the data the test wrote. The zero value is ready to
// use; it is safe for parallel tests.
type PerTest struct {
	mu sync.Mutex
	m  map[*testing.T]string
}

// Dir returns t's directory, creating it on first use.
func (p *PerTest) Dir(t *testing.T) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[*testing.T]string)
	}
	dir, ok := p.m[t]
	if !ok {
		dir = t.TempDir()
		p.m[t] = dir
	}
	return dir
}
