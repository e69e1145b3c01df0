package sqlite

import (
	"log/slog"
	"os"
	"sync"
	"testing"

	"mailgrid/internal/store"
	"mailgrid/internal/store/storetest"
)

// dirs gives each test its own shard directory and the same one when the suite reopens.
type dirs struct {
	mu sync.Mutex
	m  map[*testing.T]string
}

func (d *dirs) get(t *testing.T) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[*testing.T]string{}
	}
	if dir, ok := d.m[t]; ok {
		return dir
	}
	dir := t.TempDir()
	d.m[t] = dir
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func openAt(t *testing.T, dir string, pub store.Publisher, packSize int64) *Store {
	t.Helper()
	s, err := Open(t.Context(), Options{Dir: dir, Publisher: pub, Logger: testLogger(t), PackSize: packSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	var d dirs
	storetest.Run(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.get(t), pub, 0)
	})
}

// TestConformanceSmallPacks runs the suite with packs so small that nearly every body
// rotates to a new pack.
func TestConformanceSmallPacks(t *testing.T) {
	if testing.Short() {
		t.Skip("the suite already ran with default packs")
	}
	var d dirs
	storetest.Run(t, func(t *testing.T, pub store.Publisher) store.Store {
		return openAt(t, d.get(t), pub, 512)
	})
}

func TestOpenNeedsDir(t *testing.T) {
	if _, err := Open(t.Context(), Options{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
}

func TestCloseThenCall(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	err := s.EnsureAccount(t.Context(), store.AccountRef{Domain: "example.com", ID: 1})
	if err != ErrClosed {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
